#include "probe_child.hpp"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "wa/ipc/child.hpp"
#include "wa/log.hpp"

extern char** environ;

namespace wa::sender {

namespace {

// The answer is one line; a thumbnail in base64 keeps it well under this.
constexpr size_t kMaxAnswer = 1 << 20;

struct Pipe {
  int fd[2] = {-1, -1};
  ~Pipe() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
};

}  // namespace

Result<media::Probe> probe_in_child(int fd, std::optional<media::Kind> forced) {
  const std::string bin = ipc::self_dir() + "/wa-probe";
  Pipe out;
  if (::pipe2(out.fd, O_CLOEXEC) != 0) return fail("file_error", "cannot make a pipe for wa-probe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fd, 3);
  posix_spawn_file_actions_adddup2(&fa, out.fd[1], 1);
  std::vector<std::string> args{bin, "/proc/self/fd/3"};
  if (forced) {
    args.emplace_back("--type");
    args.emplace_back(media::kind_name(*forced));
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return fail("unsupported_media", "cannot start wa-probe (" + bin + ")");
  ::close(out.fd[1]);
  out.fd[1] = -1;

  std::string answer;
  const auto deadline = std::chrono::steady_clock::now() + kProbeTimeout;
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{out.fd[0], POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[8192];
    ssize_t got = ::read(out.fd[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    answer.append(buf, static_cast<size_t>(got));
    if (answer.size() > kMaxAnswer) break;
  }
  if (timed_out || answer.size() > kMaxAnswer) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return fail("unsupported_media", "the file took too long to read (wa-probe killed)");
  if (WIFSIGNALED(status)) {
    WA_WARN("wa-probe died of signal %d", WTERMSIG(status));
    return fail("unsupported_media", "the file could not be read (the probe crashed)");
  }
  while (!answer.empty() && (answer.back() == '\n' || answer.back() == '\r')) answer.pop_back();
  return media::parse_probe_answer(answer);
}

}  // namespace wa::sender
