// Row readers of `causeway import` (docs/operations.md, "Bulk import"): csv (RFC 4180 quoting;
// a quoted field may span lines), tsv (tab-separated, no quoting) and jsonl (one JSON object a
// line). Each row comes with the line number it starts on (1-based, header included), so a bad
// row is reported where an editor shows it. A reader starts at a byte offset (--resume) after
// reading the header at the file's start.
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace causeway::tools {

enum class ImportFormat { kCsv, kTsv, kJsonl };
Result<ImportFormat> ParseImportFormat(std::string_view text);

struct RowSpec {
  ImportFormat format = ImportFormat::kCsv;
  // A header name, or a 1-based column number ("1"); for jsonl, a field name.
  std::string key_column = "key";
  std::string value_column = "value";
  bool header = true;   // csv/tsv: the first line names the columns
  bool base64 = false;  // --value-encoding base64
};

struct Row {
  uint64_t line = 0;
  std::string key, value;
};
struct BadRow {
  uint64_t line = 0;
  std::string reason;
};

class RowReader {
 public:
  // Opens `path`, reads the header (csv/tsv with spec.header) and resolves the columns, then
  // continues at byte `offset` (0: right after the header) counting lines from `line` (the line
  // the byte at `offset` is on; ignored when offset is 0).
  static Result<std::unique_ptr<RowReader>> Open(const std::string& path, const RowSpec& spec,
                                                 uint64_t offset, uint64_t line);
  ~RowReader();
  RowReader(const RowReader&) = delete;
  RowReader& operator=(const RowReader&) = delete;

  enum class Got { kRow, kBad, kEnd };
  // The next row, or a bad one (with its line and why), or the end. Errors are for I/O.
  Result<Got> Next(Row* row, BadRow* bad);
  uint64_t offset() const { return offset_; }  // bytes consumed so far
  uint64_t line() const { return line_; }      // the line the next row starts on
  uint64_t size() const { return size_; }

 private:
  RowReader() = default;
  Result<bool> ReadLine(std::string* out);  // false at the end; strips "\n" / "\r\n"
  Status ResolveColumns(const std::string& header_line);

  std::FILE* file_ = nullptr;
  RowSpec spec_;
  size_t key_index_ = 0, value_index_ = 1, fields_min_ = 2;
  uint64_t offset_ = 0, line_ = 1, size_ = 0;
  char* buf_ = nullptr;
  size_t buf_cap_ = 0;
};

// Splits one csv record (which may hold quoted newlines) or tsv line into fields. False with
// *error set on a quote that does not close, or text after a closing quote.
bool SplitFields(std::string_view record, char separator, bool quoting,
                 std::vector<std::string>* fields, std::string* error);

}  // namespace causeway::tools
