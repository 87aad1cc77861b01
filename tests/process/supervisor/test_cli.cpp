// wactl and the programs as an operator meets them: usage errors, --version,
// errors that name the cause and the fix, finding the service's run dir,
// operators in a group without root, and an install that is incomplete.
#include <doctest/doctest.h>
#include <grp.h>

#include <algorithm>
#include <filesystem>

#include "harness.hpp"

using namespace harness;

namespace {

// Runs wactl as another user (root only): uid/gid dropped after fork, output
// to `out`. Exit 126: the binary is not reachable for that user.
std::pair<int, std::string> run_as(uid_t uid, gid_t gid, const std::vector<std::string>& argv, const std::string& out) {
  std::filesystem::remove(out);
  int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(125);
    ::execv(args[0], args.data());
    ::_exit(126);
  }
  ::close(fd);
  int st = wait_exit(pid, 20s);
  std::ifstream f(out);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return {st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1, text};
}

bool contains(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

}  // namespace

TEST_CASE("wactl - global flags anywhere, usage errors exit 2, unknown commands named, --version everywhere") {
  Supervisor sup;
  REQUIRE(sup.wait_running("alpha"));
  TempDir tmp;
  const std::string out = tmp.path() + "/out";
  const std::vector<std::string> base{bin("wactl"), "--run-dir", sup.run_dir()};
  auto wactl = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = base;
    argv.insert(argv.end(), args.begin(), args.end());
    return run_program(argv, out);
  };
  int rc = 0;
  std::string text;
  std::tie(rc, text) = wactl({"status", "--json"});
  CHECK(rc == 0);
  CHECK(json::parse(text, nullptr, false).is_object());
  std::tie(rc, text) = run_program({bin("wactl"), "status", "--run-dir", sup.run_dir(), "--json"}, out);
  CHECK(rc == 0);
  std::tie(rc, text) = wactl({"frobnicate"});
  CHECK(rc == 2);
  CHECK(contains(text, "unknown command 'frobnicate'"));
  std::tie(rc, text) = wactl({"send", "alpha"});  // missing arguments
  CHECK(rc == 2);
  std::tie(rc, text) = wactl({"status", "--no-such-flag"});
  CHECK(rc == 2);
  for (const char* prog : {"wactl", "wa-supervisor", "wa-connection", "wa-sender", "wa-probe"}) {
    std::tie(rc, text) = run_program({bin(prog), "--version"}, out);
    CHECK_MESSAGE(rc == 0, prog);
    CHECK_MESSAGE(contains(text, std::string(prog) + " "), text);
  }
  // A bare phone number is the user's phone JID (the account is not
  // connected, so the supervisor's answer is not_connected, not invalid_jid).
  std::tie(rc, text) = wactl({"send", "alpha", "+15550001", "hi"});
  CHECK(rc == 2);
  CHECK_MESSAGE(contains(text, "not_connected"), text);
}

TEST_CASE("wactl - an unreachable supervisor: the run dir tried, where it came from, and the fix") {
  TempDir tmp;
  const std::string out = tmp.path() + "/out";
  {
    ScopedEnv env({{"WA_RUN_DIR", tmp.path() + "/nowhere"}});
    int rc = 0;
    std::string text;
    std::tie(rc, text) = run_program({bin("wactl"), "ping"}, out);
    CHECK(rc == 1);
    CHECK(contains(text, tmp.path() + "/nowhere ($WA_RUN_DIR)"));
    CHECK(contains(text, "--run-dir"));
  }
  // The service's run dir from its config file (WA_CONFIG stands in for
  // /etc/wa-supervisor/config.json), with a supervisor serving there.
  Supervisor sup;
  std::ofstream(tmp.path() + "/config.json") << json{{"run_dir", sup.run_dir()}}.dump();
  ScopedEnv env({{"WA_CONFIG", tmp.path() + "/config.json"}, {"XDG_RUNTIME_DIR", tmp.path() + "/xdg"}});
  int rc = 0;
  std::string text;
  std::tie(rc, text) = run_program({bin("wactl"), "ping"}, out);
  CHECK_MESSAGE(rc == 0, text);
  CHECK(contains(text, "pong"));
}

TEST_CASE("wa-supervisor without its workers stops at once with exit 72 and says where it looked") {
  TempDir tmp;
  const std::string alone = tmp.path() + "/wa-supervisor";
  std::filesystem::copy_file(bin("wa-supervisor"), alone);
  ::chmod(alone.c_str(), 0755);
  std::ofstream(tmp.path() + "/config.json")
      << json{{"run_dir", tmp.path() + "/run"}, {"data_dir", tmp.path() + "/data"}, {"instances", json::array()}}.dump();
  int rc = 0;
  std::string text;
  std::tie(rc, text) = run_program({alone, "--config", tmp.path() + "/config.json"}, tmp.path() + "/out");
  CHECK(rc == 72);
  CHECK_MESSAGE(contains(text, "wa-connection, wa-sender and wa-probe not found"), text);
  CHECK(contains(text, tmp.path() + "/../libexec/wa-supervisor"));
}

TEST_CASE("operators - members of operator_group use the sockets without root, other users cannot") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: needs root to run wactl as other users");
    return;
  }
  group* users = ::getgrnam("users");
  if (users == nullptr) {
    MESSAGE("skipped: no 'users' group");
    return;
  }
  const gid_t gid = users->gr_gid;
  const uid_t nobody = 65534;
  // The run dir's parent must be passable for other users (TempDirs are 0700).
  TempDir pub;
  ::chmod(pub.path().c_str(), 0755);
  Supervisor sup({{"operator_group", "users"}, {"run_dir", pub.path() + "/run"}});
  REQUIRE(sup.wait_running("alpha"));
  struct stat st {};
  REQUIRE(::stat(sup.run_dir().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0750);
  CHECK(st.st_gid == gid);
  REQUIRE(::stat((sup.run_dir() + "/control.ipc").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0660);
  CHECK(st.st_gid == gid);
  // The accounts' own directories stay private.
  CHECK(file_mode(sup.run_dir() + "/i/alpha") == 0700);

  const std::string out = pub.path() + "/out";
  int rc = 0;
  std::string text;
  std::tie(rc, text) = run_as(nobody, gid, {bin("wactl"), "--run-dir", sup.run_dir(), "--json", "status"}, out);
  if (rc == 126) {
    MESSAGE("skipped: wactl is not executable for other users here (" << bin("wactl") << ")");
    return;
  }
  CHECK_MESSAGE(rc == 0, text);
  CHECK(contains(text, "\"alpha\""));
  std::tie(rc, text) = run_as(nobody, nobody, {bin("wactl"), "--run-dir", sup.run_dir(), "ping"}, out);
  CHECK(rc == 1);
  CHECK(contains(text, "cannot reach the supervisor"));
  CHECK(sup.ping());
}

TEST_CASE("operator_group names a group that exists") {
  TempDir tmp;
  std::ofstream(tmp.path() + "/config.json")
      << json{{"run_dir", tmp.path() + "/run"}, {"data_dir", tmp.path() + "/data"}, {"operator_group", "no-such-group-x"},
              {"instances", json::array()}}
             .dump();
  int rc = 0;
  std::string text;
  std::tie(rc, text) = run_program({bin("wa-supervisor"), "--config", tmp.path() + "/config.json"}, tmp.path() + "/out");
  CHECK(rc == 78);
  CHECK(contains(text, "no such group 'no-such-group-x'"));
}

TEST_CASE("profiles created at run time come back after a restart, and remove forgets them") {
  TempDir dirs;
  const json placed{{"run_dir", dirs.path() + "/run"}, {"data_dir", dirs.path() + "/data"}};
  {
    Supervisor sup(placed);
    REQUIRE(sup.call({{"cmd", "start"}, {"profile", "gamma"}, {"create", true}}).value("ok", false));
    REQUIRE(sup.call({{"cmd", "start"}, {"profile", "delta"}, {"create", true}}).value("ok", false));
    REQUIRE(sup.wait_running("gamma"));
    // A profile of the config file is the config's to remove.
    CHECK(error_code(sup.call({{"cmd", "remove"}, {"profile", "alpha"}})) == "in_config");
  }
  {
    Supervisor sup(placed);
    CHECK(sup.wait_running("gamma"));
    CHECK(sup.wait_running("delta"));
    json r = sup.call({{"cmd", "remove"}, {"profile", "gamma"}});
    REQUIRE(r.value("ok", false));
    CHECK(r["result"]["purged"] == false);
    CHECK(error_code(sup.call({{"cmd", "status"}, {"profile", "gamma"}})) == "unknown_profile");
    CHECK(std::filesystem::exists(sup.data_dir() + "/gamma"));  // kept without purge
    // wactl asks for confirmation before deleting data.
    int rc = 0;
    std::string text;
    std::tie(rc, text) = run_program({bin("wactl"), "--run-dir", sup.run_dir(), "remove", "delta", "--purge"},
                                     dirs.path() + "/out");
    CHECK(rc == 2);
    CHECK(contains(text, "--yes"));
    CHECK(sup.state("delta") == "running");
    std::tie(rc, text) = run_program(
        {bin("wactl"), "--run-dir", sup.run_dir(), "remove", "delta", "--purge", "--yes"}, dirs.path() + "/out");
    CHECK_MESSAGE(rc == 0, text);
    CHECK(contains(text, "data deleted"));
    CHECK_FALSE(std::filesystem::exists(sup.data_dir() + "/delta"));
  }
  Supervisor sup(placed);
  CHECK(error_code(sup.call({{"cmd", "status"}, {"profile", "gamma"}})) == "unknown_profile");
  CHECK(error_code(sup.call({{"cmd", "status"}, {"profile", "delta"}})) == "unknown_profile");
  CHECK(sup.wait_running("alpha"));
}

TEST_CASE("wactl logs - the account's own lines with timestamps, the last N, and -f follows new ones") {
  Supervisor sup;
  REQUIRE(sup.wait_running("alpha"));
  REQUIRE(sup.wait_running("beta"));
  TempDir tmp;
  const std::string out = tmp.path() + "/out";
  auto wactl = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{bin("wactl"), "--run-dir", sup.run_dir()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_program(argv, out);
  };
  auto lines = [](const std::string& text) { return std::count(text.begin(), text.end(), '\n'); };
  int rc = 0;
  std::string text;
  // Each worker writes its first line when it starts.
  REQUIRE(wait_until([&] {
    std::tie(rc, text) = wactl({"logs", "alpha"});
    return rc == 0 && contains(text, "wa-connection[alpha] info: started");
  }, 20s));
  CHECK_FALSE(contains(text, "[beta]"));
  CHECK(text.rfind("20", 0) == 0);  // each line begins with its UTC time
  std::tie(rc, text) = wactl({"logs", "alpha", "-n", "1"});
  CHECK(rc == 0);
  CHECK(lines(text) == 1);
  std::tie(rc, text) = wactl({"logs", "nobody"});
  CHECK(rc == 2);
  CHECK(contains(text, "unknown_profile"));

  // -f: the last line, then what the restarted worker writes.
  const std::string follow = tmp.path() + "/follow";
  pid_t f = spawn({bin("wactl"), "--run-dir", sup.run_dir(), "logs", "alpha", "-f", "-n", "1"}, follow);
  auto followed = [&] {
    std::ifstream in(follow);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  CHECK(wait_until([&] { return lines(followed()) == 1; }, 10s));
  const int old_pid = sup.conn_pid("alpha");
  REQUIRE(sup.call({{"cmd", "restart"}, {"profile", "alpha"}}).value("ok", false));
  const int new_pid = sup.conn_pid("alpha");
  CHECK(new_pid != old_pid);
  CHECK(wait_until([&] { return contains(followed(), "started (pid " + std::to_string(new_pid) + ")"); }, 20s));
  ::kill(f, SIGTERM);
  CHECK(wait_exit(f, 10s) != -1);
}
