// The account log behind `wactl logs`: every line also in the file, with a
// UTC timestamp, and past the size limit one older generation kept.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "temp_dir.hpp"
#include "wa/log.hpp"

namespace {
std::string slurp(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// stderr to /dev/null while a test floods the log.
struct QuietStderr {
  int saved = ::dup(STDERR_FILENO);
  QuietStderr() {
    int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    ::dup2(null, STDERR_FILENO);
    ::close(null);
  }
  ~QuietStderr() {
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
  }
};
}  // namespace

TEST_CASE("log file: lines with their UTC time, private, rotated once past the limit") {
  wa::test::TempDir dir;
  const std::string path = dir.path() + "/account.log";
  QuietStderr quiet;
  wa::log::set_tag("t[p]");
  REQUIRE(wa::log::set_file(path));
  WA_INFO("hello %d", 1);
  WA_DEBUG("not at info");
  const std::string first = slurp(path);
  CHECK(first.size() > 24);
  CHECK(first[4] == '-');
  CHECK(first.find("Z t[p] info: hello 1\n") == 23);
  CHECK(first.find("not at info") == std::string::npos);
  CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::group_all) ==
        std::filesystem::perms::none);

  const std::string filler(200, 'x');
  for (size_t i = 0; i < wa::log::kMaxFileBytes / 200 + 100; ++i) WA_INFO("%s", filler.c_str());
  CHECK(std::filesystem::exists(path + ".1"));
  CHECK(std::filesystem::file_size(path) < wa::log::kMaxFileBytes);
  CHECK(std::filesystem::file_size(path + ".1") >= wa::log::kMaxFileBytes);
  WA_INFO("after");
  CHECK(slurp(path).find("info: after\n") != std::string::npos);
  CHECK(wa::log::set_file(""));
  WA_INFO("not written");
  CHECK(slurp(path).find("not written") == std::string::npos);
}
