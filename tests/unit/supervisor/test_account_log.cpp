// Reading an account's log for `logs`: the last lines (reaching into the
// older generation), what was written after an offset (whole lines only),
// and a file rotated under the reader.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "account_log.hpp"
#include "temp_dir.hpp"

using namespace wa::supervisor;

namespace {
void append(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::app) << text; }
}  // namespace

TEST_CASE("account log: a missing file is empty, the last N lines, and the older generation fills in") {
  wa::test::TempDir dir;
  const std::string path = dir.path() + "/account.log";
  auto none = read_account_log(path, std::nullopt, 10);
  REQUIRE(none);
  CHECK(none->lines.empty());
  CHECK(none->offset == 0);

  append(path + ".1", "old 1\nold 2\n");
  append(path, "new 1\nnew 2\nnew 3\n");
  auto last2 = read_account_log(path, std::nullopt, 2);
  REQUIRE(last2);
  CHECK(last2->lines == std::vector<std::string>{"new 2", "new 3"});
  CHECK(last2->offset == 18);
  auto last4 = read_account_log(path, std::nullopt, 4);
  REQUIRE(last4);
  CHECK(last4->lines == std::vector<std::string>{"old 2", "new 1", "new 2", "new 3"});
}

TEST_CASE("account log: after an offset whole lines only, a partial line waits, a rotated file starts over") {
  wa::test::TempDir dir;
  const std::string path = dir.path() + "/account.log";
  append(path, "a\nb\n");
  auto first = read_account_log(path, std::nullopt, 100);
  REQUIRE(first);
  uint64_t at = first->offset;
  CHECK(at == 4);

  append(path, "c\npart");
  auto next = read_account_log(path, at, 100);
  REQUIRE(next);
  CHECK(next->lines == std::vector<std::string>{"c"});
  CHECK(next->offset == 6);  // "part" is not a line yet
  append(path, "ial\n");
  auto rest = read_account_log(path, next->offset, 100);
  REQUIRE(rest);
  CHECK(rest->lines == std::vector<std::string>{"partial"});
  auto idle = read_account_log(path, rest->offset, 100);
  REQUIRE(idle);
  CHECK(idle->lines.empty());
  CHECK(idle->offset == rest->offset);

  // Rotated: the path is a new, shorter file.
  std::filesystem::rename(path, path + ".1");
  append(path, "fresh\n");
  auto rotated = read_account_log(path, rest->offset, 100);
  REQUIRE(rotated);
  CHECK(rotated->lines == std::vector<std::string>{"fresh"});
}

TEST_CASE("account log: one reply carries at most kMaxLogChunk bytes, the next picks up") {
  wa::test::TempDir dir;
  const std::string path = dir.path() + "/account.log";
  const std::string line(999, 'x');
  for (int i = 0; i < 600; ++i) append(path, line + "\n");  // 600 KB
  auto a = read_account_log(path, uint64_t{0}, 100);
  REQUIRE(a);
  CHECK(a->offset <= kMaxLogChunk);
  CHECK(a->offset % 1000 == 0);
  size_t total = a->lines.size();
  uint64_t at = a->offset;
  while (true) {
    auto b = read_account_log(path, at, 100);
    REQUIRE(b);
    if (b->lines.empty()) break;
    total += b->lines.size();
    at = b->offset;
  }
  CHECK(total == 600);
  for (const auto& l : a->lines) CHECK(l == line);
}
