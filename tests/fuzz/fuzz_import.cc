// libFuzzer target: the bulk import's row parsers (tools/internal/import_rows.h) on hostile
// files: csv (quoted fields, quoted newlines), tsv and jsonl, with or without base64 values.
// Every row read has a line number within the file's lines, and the reader always ends.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "base/assert.h"
#include "tools/internal/import_rows.h"

using causeway::tools::BadRow;
using causeway::tools::ImportFormat;
using causeway::tools::Row;
using causeway::tools::RowReader;
using causeway::tools::RowSpec;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<std::string> fields;
  std::string error;
  (void)causeway::tools::SplitFields(text, ',', true, &fields, &error);
  (void)causeway::tools::SplitFields(text, '\t', false, &fields, &error);

  RowSpec spec;
  static constexpr ImportFormat kFormats[] = {ImportFormat::kCsv, ImportFormat::kTsv,
                                              ImportFormat::kJsonl};
  spec.format = kFormats[data[0] % 3];
  spec.header = (data[0] & 4) != 0;
  spec.base64 = (data[0] & 8) != 0;
  if ((data[0] & 16) != 0) {
    spec.key_column = "1";
    spec.value_column = "2";
  }
  char path[] = "/tmp/causeway-fuzz-import.XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return 0;
  const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  if (written) {
    auto reader = RowReader::Open(path, spec, 0, 0);
    if (reader.ok()) {
      uint64_t lines = 1;
      for (char c : text) lines += c == '\n' ? 1 : 0;
      Row row;
      BadRow bad;
      for (size_t n = 0; n <= text.size() + 1; ++n) {
        auto got = (*reader)->Next(&row, &bad);
        if (!got.ok() || *got == RowReader::Got::kEnd) break;
        const uint64_t line = *got == RowReader::Got::kRow ? row.line : bad.line;
        CW_ASSERT(line >= 1 && line <= lines, "a row's line number is a line of the file");
      }
    }
  }
  unlink(path);
  return 0;
}
