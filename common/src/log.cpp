#include "wa/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace wa::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::info)};
char g_tag[96] = "wa";
constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
}  // namespace

void set_level(Level level) noexcept { g_level = static_cast<int>(level); }

void set_tag(const char* tag) noexcept {
  std::snprintf(g_tag, sizeof g_tag, "%s", tag);
}

void write(Level level, const char* fmt, ...) noexcept {
  if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
  char line[1024];
  int n = std::snprintf(line, sizeof line, "%s %s: ", g_tag, kNames[static_cast<int>(level)]);
  if (n < 0) return;
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(line + n, sizeof line - static_cast<size_t>(n), fmt, ap);
  va_end(ap);
  size_t len = static_cast<size_t>(n) + (m < 0 ? 0 : static_cast<size_t>(m));
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  // One write(2) per line so lines from several processes never interleave.
  ssize_t ignored = ::write(STDERR_FILENO, line, len);
  (void)ignored;
}

}  // namespace wa::log
