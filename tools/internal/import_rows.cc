// Row readers of `causeway import`: tools/internal/import_rows.h.
#include "tools/internal/import_rows.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "base/limits.h"
#include "base/strings.h"
#include "base/version.h"

namespace causeway::tools {
namespace {

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

// Standard or URL-safe alphabet, padding optional.
bool Base64Decode(std::string_view in, std::string* out) {
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const int v = Base64Value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// A record ends at a newline outside quotes (csv); tsv and jsonl records are single lines.
bool QuotesOpen(std::string_view text) {
  bool open = false;
  for (char c : text) {
    if (c == '"') open = !open;
  }
  return open;
}

}  // namespace

Result<ImportFormat> ParseImportFormat(std::string_view text) {
  if (text == "csv") return ImportFormat::kCsv;
  if (text == "tsv") return ImportFormat::kTsv;
  if (text == "jsonl") return ImportFormat::kJsonl;
  return Status::InvalidArgument(StrCat("unknown format \"", text, "\" (csv, tsv or jsonl)"));
}

bool SplitFields(std::string_view record, char separator, bool quoting,
                 std::vector<std::string>* fields, std::string* error) {
  fields->clear();
  std::string field;
  size_t i = 0;
  while (true) {
    field.clear();
    if (quoting && i < record.size() && record[i] == '"') {
      ++i;
      bool closed = false;
      while (i < record.size()) {
        if (record[i] == '"') {
          if (i + 1 < record.size() && record[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        field.push_back(record[i++]);
      }
      if (!closed) {
        *error = "a quoted field does not close";
        return false;
      }
      if (i < record.size() && record[i] != separator) {
        *error = "text after a closing quote";
        return false;
      }
    } else {
      while (i < record.size() && record[i] != separator) field.push_back(record[i++]);
    }
    fields->push_back(field);
    if (i >= record.size()) return true;
    ++i;  // the separator
  }
}

RowReader::~RowReader() {
  if (file_ != nullptr) std::fclose(file_);
  std::free(buf_);
}

Result<bool> RowReader::ReadLine(std::string* out) {
  errno = 0;
  const ssize_t n = ::getline(&buf_, &buf_cap_, file_);
  if (n < 0) {
    if (std::ferror(file_) != 0) return Status::IoError(StrCat("read: ", std::strerror(errno)));
    return false;
  }
  offset_ += static_cast<uint64_t>(n);
  size_t len = static_cast<size_t>(n);
  if (len > 0 && buf_[len - 1] == '\n') --len;
  if (len > 0 && buf_[len - 1] == '\r') --len;
  out->assign(buf_, len);
  return true;
}

Status RowReader::ResolveColumns(const std::string& header_line) {
  if (spec_.format == ImportFormat::kJsonl) return Status::Ok();
  auto index_of = [&](const std::string& column, const std::vector<std::string>& names,
                      size_t* out) -> Status {
    if (AllDigits(column)) {
      const uint64_t n = std::strtoull(column.c_str(), nullptr, 10);
      if (n == 0) return Status::InvalidArgument("column numbers start at 1");
      *out = n - 1;
      return Status::Ok();
    }
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == column) {
        *out = i;
        return Status::Ok();
      }
    }
    return Status::InvalidArgument(
        StrCat("no column \"", column, "\"", spec_.header ? " in the header" : " (no header)"));
  };
  std::vector<std::string> names;
  if (spec_.header) {
    std::string error;
    const bool csv = spec_.format == ImportFormat::kCsv;
    if (!SplitFields(header_line, csv ? ',' : '\t', csv, &names, &error)) {
      return Status::InvalidArgument(StrCat("header: ", error));
    }
  }
  const std::string key_col = spec_.header || AllDigits(spec_.key_column) ? spec_.key_column : "1";
  const std::string value_col =
      spec_.header || AllDigits(spec_.value_column) ? spec_.value_column : "2";
  if (Status s = index_of(key_col, names, &key_index_); !s.ok()) return s;
  if (Status s = index_of(value_col, names, &value_index_); !s.ok()) return s;
  if (key_index_ == value_index_) {
    return Status::InvalidArgument("the key and value columns are the same");
  }
  fields_min_ = std::max(key_index_, value_index_) + 1;
  return Status::Ok();
}

Result<std::unique_ptr<RowReader>> RowReader::Open(const std::string& path, const RowSpec& spec,
                                                   uint64_t offset, uint64_t line) {
  std::unique_ptr<RowReader> r(new RowReader());
  r->spec_ = spec;
  r->file_ = std::fopen(path.c_str(), "rbe");
  if (r->file_ == nullptr) {
    return Status::InvalidArgument(StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(::fileno(r->file_), &st) == 0) r->size_ = static_cast<uint64_t>(st.st_size);
  std::string header;
  if (spec.header && spec.format != ImportFormat::kJsonl) {
    Result<bool> got = r->ReadLine(&header);
    if (!got.ok()) return got.status();
    if (!*got) return Status::InvalidArgument(StrCat(path, " is empty (no header)"));
    r->line_ = 2;
  }
  if (Status s = r->ResolveColumns(header); !s.ok()) return s;
  if (offset > r->offset_) {
    if (::fseeko(r->file_, static_cast<off_t>(offset), SEEK_SET) != 0) {
      return Status::InvalidArgument(StrCat("cannot seek ", path, " to ", offset));
    }
    r->offset_ = offset;
    r->line_ = line;
  }
  return r;
}

Result<RowReader::Got> RowReader::Next(Row* row, BadRow* bad) {
  std::string record;
  while (true) {
    const uint64_t start_line = line_;
    Result<bool> got = ReadLine(&record);
    if (!got.ok()) return got.status();
    if (!*got) return Got::kEnd;
    ++line_;
    // A csv record continues while a quote is open (a quoted newline), within a bound.
    while (spec_.format == ImportFormat::kCsv && QuotesOpen(record) &&
           record.size() <= kImportLineBytesMax) {
      std::string more;
      Result<bool> next = ReadLine(&more);
      if (!next.ok()) return next.status();
      if (!*next) break;
      ++line_;
      record += '\n';
      record += more;
    }
    if (record.empty()) continue;  // blank lines are not rows
    bad->line = start_line;
    row->line = start_line;
    if (record.size() > kImportLineBytesMax) {
      bad->reason = StrCat("row of ", record.size(), " bytes is over ", kImportLineBytesMax);
      return Got::kBad;
    }
    std::string raw_value;
    if (spec_.format == ImportFormat::kJsonl) {
      nlohmann::json j = nlohmann::json::parse(record, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        bad->reason = "not a JSON object";
        return Got::kBad;
      }
      auto k = j.find(spec_.key_column);
      auto v = j.find(spec_.value_column);
      if (k == j.end() || !k->is_string()) {
        bad->reason = StrCat("no string field \"", spec_.key_column, "\"");
        return Got::kBad;
      }
      if (v == j.end()) {
        bad->reason = StrCat("no field \"", spec_.value_column, "\"");
        return Got::kBad;
      }
      row->key = k->get<std::string>();
      raw_value = v->is_string() ? v->get<std::string>() : v->dump();
    } else {
      const bool csv = spec_.format == ImportFormat::kCsv;
      std::vector<std::string> fields;
      std::string error;
      if (!SplitFields(record, csv ? ',' : '\t', csv, &fields, &error)) {
        bad->reason = error;
        return Got::kBad;
      }
      if (fields.size() < fields_min_) {
        bad->reason =
            fields.size() == 1
                ? StrCat("no separator (", csv ? "','" : "tab", ") in the row")
                : StrCat("expected at least ", fields_min_, " fields, found ", fields.size());
        return Got::kBad;
      }
      row->key = std::move(fields[key_index_]);
      raw_value = std::move(fields[value_index_]);
    }
    if (spec_.base64) {
      if (!Base64Decode(raw_value, &row->value)) {
        bad->reason = "the value is not base64";
        return Got::kBad;
      }
    } else {
      row->value = std::move(raw_value);
    }
    if (Status s = ValidateKey(row->key); !s.ok()) {
      bad->reason = StrCat("bad key: ", s.message());
      return Got::kBad;
    }
    if (row->value.size() > kValueBytesMax) {
      bad->reason = StrCat("value of ", row->value.size(), " bytes is over ", kValueBytesMax);
      return Got::kBad;
    }
    return Got::kRow;
  }
}

}  // namespace causeway::tools
