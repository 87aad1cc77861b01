#include "wa/log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace wa::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::info)};
char g_tag[96] = "wa";
constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
// syslog priorities as journald reads them from a "<N>" line prefix.
constexpr const char* kPriorities[] = {"<7>", "<6>", "<4>", "<3>"};

// Is stderr systemd's journal stream? systemd sets JOURNAL_STREAM to the
// "device:inode" of the stream it connected; a stderr redirected elsewhere
// (a file, a terminal) no longer matches, and gets no prefixes. Workers
// inherit both the variable and the stream.
bool stderr_is_journal() noexcept {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (js == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}
const bool g_journal = stderr_is_journal();
}  // namespace

void set_level(Level level) noexcept { g_level = static_cast<int>(level); }
Level level() noexcept { return static_cast<Level>(g_level.load(std::memory_order_relaxed)); }
const char* level_name(Level level) noexcept { return kNames[static_cast<int>(level)]; }
bool parse_level(std::string_view name, Level& out) noexcept {
  for (int i = 0; i < 4; ++i)
    if (name == kNames[i]) {
      out = static_cast<Level>(i);
      return true;
    }
  return false;
}

void set_tag(const char* tag) noexcept {
  std::snprintf(g_tag, sizeof g_tag, "%s", tag);
}

void write(Level level, const char* fmt, ...) noexcept {
  if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
  char line[1024];
  // Under systemd the priority travels as a prefix, so `journalctl -p err`
  // finds errors; the level name stays in the text for everyone else.
  int n = std::snprintf(line, sizeof line, "%s%s %s: ", g_journal ? kPriorities[static_cast<int>(level)] : "", g_tag,
                        kNames[static_cast<int>(level)]);
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
