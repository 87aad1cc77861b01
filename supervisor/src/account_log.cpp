#include "account_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace wa::supervisor {

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Bytes [from, to) of the open file.
Result<std::string> read_range(int fd, uint64_t from, uint64_t to) {
  std::string out(static_cast<size_t>(to - from), '\0');
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(from + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("io_error", std::string("cannot read the account log: ") + std::strerror(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

void split_lines(std::string_view text, std::vector<std::string>& out) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    out.emplace_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

// The whole lines among the last kMaxLogChunk bytes of `path` (none if it
// does not exist); `size` gets the file's size.
Result<std::vector<std::string>> tail(const std::string& path, uint64_t& size) {
  size = 0;
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (f.fd < 0) {
    if (errno == ENOENT) return std::vector<std::string>{};
    return fail("io_error", "cannot open the account log: " + std::string(std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) return fail("io_error", "cannot stat the account log");
  size = static_cast<uint64_t>(st.st_size);
  const uint64_t from = size > kMaxLogChunk ? size - kMaxLogChunk : 0;
  auto text = read_range(f.fd, from, size);
  if (!text) return Unexpected<Error>{text.error()};
  std::string_view v = *text;
  if (from > 0) {
    // Started inside a line: drop its end.
    size_t nl = v.find('\n');
    v = nl == std::string_view::npos ? std::string_view{} : v.substr(nl + 1);
  }
  if (!v.empty() && v.back() == '\n') v.remove_suffix(1);
  std::vector<std::string> out;
  if (!v.empty()) split_lines(v, out);
  return out;
}

}  // namespace

Result<LogRead> read_account_log(const std::string& path, std::optional<uint64_t> offset, size_t lines) {
  LogRead r;
  if (!offset) {
    uint64_t size = 0;
    auto cur = tail(path, size);
    if (!cur) return Unexpected<Error>{cur.error()};
    r.offset = size;
    if (cur->size() < lines) {
      uint64_t ignored = 0;
      auto older = tail(path + ".1", ignored);
      if (older) {
        older->insert(older->end(), cur->begin(), cur->end());
        cur = std::move(older);
      }
    }
    const size_t skip = cur->size() > lines ? cur->size() - lines : 0;
    r.lines.assign(cur->begin() + static_cast<std::ptrdiff_t>(skip), cur->end());
    return r;
  }
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (f.fd < 0) {
    if (errno == ENOENT) return r;
    return fail("io_error", "cannot open the account log: " + std::string(std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) return fail("io_error", "cannot stat the account log");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  // Smaller than where the reader was: the file was rotated since.
  uint64_t from = *offset > size ? 0 : *offset;
  const uint64_t to = std::min<uint64_t>(size, from + kMaxLogChunk);
  auto text = read_range(f.fd, from, to);
  if (!text) return Unexpected<Error>{text.error()};
  std::string_view v = *text;
  // Whole lines only, unless one line fills the whole chunk.
  size_t last_nl = v.rfind('\n');
  if (last_nl != std::string_view::npos) {
    v = v.substr(0, last_nl);
    r.offset = from + last_nl + 1;
  } else if (v.size() == kMaxLogChunk) {
    r.offset = from + v.size();
  } else {
    v = {};
    r.offset = from;
  }
  split_lines(v, r.lines);
  return r;
}

}  // namespace wa::supervisor
