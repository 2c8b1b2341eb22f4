#include "tools/internal/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "tools/internal/process.h"

namespace causeway::tools {

std::string FormatBytes(uint64_t bytes) {
  char buf[32];
  if (bytes < 1024) {
    std::snprintf(buf, sizeof(buf), "%llu B", static_cast<unsigned long long>(bytes));
  } else if (bytes < (1 << 20)) {
    std::snprintf(buf, sizeof(buf), "%.1f KiB", static_cast<double>(bytes) / 1024);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  }
  return buf;
}

std::string FormatDuration(uint64_t ms) {
  char buf[32];
  if (ms < 60000) {
    std::snprintf(buf, sizeof(buf), "%.1f s", static_cast<double>(ms) / 1000);
  } else {
    std::snprintf(buf, sizeof(buf), "%llum%02llus", static_cast<unsigned long long>(ms / 60000),
                  static_cast<unsigned long long>(ms / 1000 % 60));
  }
  return buf;
}

double PercentDown(double fraction) {
  return std::floor(std::clamp(fraction, 0.0, 1.0) * 1000) / 10;
}

std::string FormatEta(double fraction, uint64_t elapsed_ms) {
  if (fraction >= 1) return "0 s";
  if (fraction <= 0) return "-";
  return FormatDuration(
      static_cast<uint64_t>(static_cast<double>(elapsed_ms) * (1 - fraction) / fraction));
}

uint64_t PerSecond(uint64_t amount, uint64_t elapsed_ms) {
  return amount * 1000 / std::max<uint64_t>(elapsed_ms, 1000);
}

ProgressLine::ProgressLine(std::ostream& out, int fd, uint64_t plain_interval_ms)
    : out_(out),
      fd_(fd),
      terminal_(::isatty(fd) != 0),
      plain_interval_ms_(plain_interval_ms),
      start_ms_(MonotonicMs()) {}

bool ProgressLine::Due(bool final) {
  const uint64_t now = MonotonicMs();
  if (!terminal_ && !final && now < next_plain_ms_) return false;
  next_plain_ms_ = now + plain_interval_ms_;
  return true;
}

void ProgressLine::Draw(double fraction, const std::string& line, bool final) {
  if (!terminal_) {
    out_ << line << "\n" << std::flush;
    return;
  }
  constexpr int kBarWidth = 10;
  const int filled = static_cast<int>(std::clamp(fraction, 0.0, 1.0) * kBarWidth);
  const std::string text =
      "[" + std::string(filled, '#') + std::string(kBarWidth - filled, '.') + "] " + line;
  out_ << "\r\x1b[K" << text.substr(0, Width() - 1) << (final ? "\n" : "") << std::flush;
}

void ProgressLine::Say(const std::string& text) {
  if (terminal_) out_ << "\r\x1b[K";
  out_ << text << "\n" << std::flush;
}

uint64_t ProgressLine::elapsed_ms() const { return MonotonicMs() - start_ms_; }

// The terminal's columns (80 when it does not say).
size_t ProgressLine::Width() const {
  winsize ws{};
  return ::ioctl(fd_, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 ? ws.ws_col : 80;
}

}  // namespace causeway::tools
