// The progress line of a long CLI operation (`causeway repair`, `causeway node decommission`):
// a bar redrawn in place on a terminal (cut to its width, so "\r" redraws one row), else plain
// lines at most every `plain_interval_ms`, and a last one at the end. Also the figures such
// lines show (bytes, durations, percent, ETA).
//
// Not thread-safe: the command's thread owns it.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace causeway::tools {

std::string FormatBytes(uint64_t bytes);  // "512 B", "1.5 KiB", "3.2 MiB"
std::string FormatDuration(uint64_t ms);  // "4.2 s", "3m07s"
// A fraction (0..1) as a percent rounded down to a tenth, so that 100.0 means done.
double PercentDown(double fraction);
// The time left for a fraction done after elapsed_ms: "-" when not known yet, "0 s" when done.
std::string FormatEta(double fraction, uint64_t elapsed_ms);
// Per second over at least the first second (a rate of the first few ms means nothing).
uint64_t PerSecond(uint64_t amount, uint64_t elapsed_ms);

class ProgressLine {
 public:
  // `fd` is the file descriptor behind `out` (to tell a terminal and its width).
  ProgressLine(std::ostream& out, int fd, uint64_t plain_interval_ms);

  bool terminal() const { return terminal_; }
  // Whether a line is due now: always on a terminal or when `final`, else at most every plain
  // interval (a true answer starts the next interval).
  bool Due(bool final);
  // On a terminal: a bar of `fraction`, then `line`, redrawn in place (a newline after the final
  // one). Otherwise `line` on a line of its own.
  void Draw(double fraction, const std::string& line, bool final);
  // A line of its own (a heading, an error), after the progress line.
  void Say(const std::string& text);
  uint64_t elapsed_ms() const;

 private:
  size_t Width() const;

  std::ostream& out_;
  const int fd_;
  const bool terminal_;
  const uint64_t plain_interval_ms_;
  const uint64_t start_ms_;
  uint64_t next_plain_ms_ = 0;
};

}  // namespace causeway::tools
