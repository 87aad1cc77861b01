#include "wa/log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

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

// The account log (set_file): guarded by a spin lock, not a mutex, so
// write() stays noexcept; lines are short and the section is one write(2).
std::atomic_flag g_file_lock = ATOMIC_FLAG_INIT;
int g_file_fd = -1;
char g_file_path[4096] = "";

struct FileLock {
  FileLock() noexcept {
    while (g_file_lock.test_and_set(std::memory_order_acquire)) {
    }
  }
  ~FileLock() { g_file_lock.clear(std::memory_order_release); }
};

int open_log(const char* path) noexcept {
  return ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
}

// Past the size limit: the first writer to notice moves the file aside
// (only if the path still names the file it writes to: another process may
// have done it already) and every writer reopens the path.
void rotate_if_full() noexcept {
  struct stat mine {};
  if (::fstat(g_file_fd, &mine) != 0 || static_cast<size_t>(mine.st_size) < kMaxFileBytes) return;
  struct stat named {};
  if (::stat(g_file_path, &named) == 0 && named.st_ino == mine.st_ino && named.st_dev == mine.st_dev) {
    char old[sizeof g_file_path + 2];
    std::snprintf(old, sizeof old, "%s.1", g_file_path);
    (void)::rename(g_file_path, old);
  }
  int fd = open_log(g_file_path);
  if (fd < 0) return;
  ::close(g_file_fd);
  g_file_fd = fd;
}

void append_to_file(const char* text, size_t len) noexcept {
  FileLock lock;
  if (g_file_fd < 0) return;
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  tm utc{};
  ::gmtime_r(&ts.tv_sec, &utc);
  char line[1100];
  int n = std::snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ", utc.tm_year + 1900, utc.tm_mon + 1,
                        utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, ts.tv_nsec / 1000000);
  if (n < 0) return;
  size_t total = static_cast<size_t>(n);
  if (len > sizeof line - total) len = sizeof line - total;
  std::memcpy(line + total, text, len);
  total += len;
  ssize_t ignored = ::write(g_file_fd, line, total);
  (void)ignored;
  rotate_if_full();
}
}  // namespace

bool set_file(const std::string& path) noexcept {
  FileLock lock;
  if (g_file_fd >= 0) ::close(g_file_fd);
  g_file_fd = -1;
  g_file_path[0] = 0;
  if (path.empty() || path.size() >= sizeof g_file_path) return path.empty();
  g_file_fd = open_log(path.c_str());
  if (g_file_fd < 0) return false;
  std::snprintf(g_file_path, sizeof g_file_path, "%s", path.c_str());
  return true;
}

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
  // The account log gets the line without the journal's priority prefix.
  const size_t skip = g_journal ? 3 : 0;
  append_to_file(line + skip, len - skip);
}

}  // namespace wa::log
