#include "wa/fs.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace wa::fs {

namespace {
std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}
}  // namespace

Status ensure_private_dir(const std::string& path) {
  if (path.empty()) return fail("bad_path", "empty directory path");
  // Create each missing parent with 0700 too: we never loosen existing ones.
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string part = path.substr(0, pos);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST)
      return fail("io_error", errno_text("cannot create", part));
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return fail("io_error", errno_text("cannot stat", path));
  if (!S_ISDIR(st.st_mode)) return fail("bad_path", path + " is not a directory");
  if (st.st_uid != ::geteuid()) return fail("bad_path", path + " is owned by another user");
  if ((st.st_mode & 0777) != 0700 && ::chmod(path.c_str(), 0700) != 0)
    return fail("io_error", errno_text("cannot chmod", path));
  return {};
}

Status share_dir_with_group(const std::string& path, unsigned gid) {
  if (::chown(path.c_str(), static_cast<uid_t>(-1), static_cast<gid_t>(gid)) != 0)
    return fail("io_error", errno_text("cannot give the operator group", path));
  if (::chmod(path.c_str(), 0750) != 0) return fail("io_error", errno_text("cannot chmod", path));
  return {};
}

Result<int> lock_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return fail("io_error", errno_text("cannot open", path));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    ::close(fd);
    if (e == EWOULDBLOCK) return fail("locked", path + " is locked by another process");
    errno = e;
    return fail("io_error", errno_text("cannot lock", path));
  }
  return fd;
}

Status write_file_atomic(const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail("io_error", errno_text("cannot create", tmp));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      ::unlink(tmp.c_str());
      return fail("io_error", errno_text("cannot write", tmp));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return fail("io_error", errno_text("cannot sync", tmp));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return fail("io_error", errno_text("cannot rename to", path));
  }
  return {};
}

Result<std::string> read_file(const std::string& path, size_t max_size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("io_error", errno_text("cannot open", path));
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return fail("io_error", errno_text("cannot read", path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_size) {
      ::close(fd);
      return fail("too_large", path + " is larger than " + std::to_string(max_size) + " bytes");
    }
  }
  ::close(fd);
  return out;
}

}  // namespace wa::fs

namespace wa::fs {

namespace {

// realpath(3) as a string, or the errno.
Result<std::string> real(const std::string& path) {
  std::unique_ptr<char, decltype(&::free)> r(::realpath(path.c_str(), nullptr), &::free);
  if (!r) return fail("file_error", errno_text("cannot resolve", path));
  return std::string(r.get());
}

bool below(const std::string& path, const std::string& root) {
  if (root == "/") return true;
  return path.size() > root.size() && path.compare(0, root.size(), root) == 0 && path[root.size()] == '/';
}

}  // namespace

Result<std::string> resolve_under(const std::string& path, std::span<const std::string> roots, bool must_exist) {
  if (path.empty() || path.front() != '/' || path.find('\0') != std::string::npos)
    return fail("path_not_allowed", "not an absolute path");
  std::string resolved;
  if (must_exist) {
    auto r = real(path);
    if (!r) return r;
    resolved = std::move(*r);
  } else {
    const size_t slash = path.find_last_of('/');
    const std::string leaf = path.substr(slash + 1);
    if (leaf.empty() || leaf == "." || leaf == "..") return fail("path_not_allowed", "not a file name: " + path);
    auto dir = real(slash == 0 ? "/" : path.substr(0, slash));
    if (!dir) return dir;
    resolved = (*dir == "/" ? "" : *dir) + "/" + leaf;
  }
  for (const auto& root : roots) {
    auto r = real(root);
    if (r && below(resolved, *r)) return resolved;
  }
  return fail("path_not_allowed", path + " is not below an allowed directory (media.allowed_roots)");
}

}  // namespace wa::fs
