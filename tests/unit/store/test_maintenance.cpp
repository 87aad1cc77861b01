// Store failures as the rest of the system sees them: the one
// classification, the corruption observer, integrity check and recovery of
// a damaged file.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "temp_dir.hpp"
#include "wa/store/event_log.hpp"
#include "wa/store/sqlite_store.hpp"

using namespace wa;
using namespace wa::store;
using wa::test::TempDir;

namespace {

std::unique_ptr<Store> open_ok(const std::string& path) {
  auto r = open_sqlite(path);
  REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().code + ": " + r.error().message));
  return std::move(r).value();
}

// A profile database with 400 prekeys and 50 logged events, all in the main
// file; returns the page numbers of the prekeys table's leaves.
std::vector<int> make_profile(const std::string& path) {
  {
    auto st = open_ok(path);
    REQUIRE(st->transaction(Durability::full, [&]() -> Status {
      for (uint32_t i = 1; i <= 400; ++i) {
        PreKey k{i, Bytes(32, static_cast<uint8_t>(i)), Bytes(32, 7), false};
        if (auto s = st->store_prekey(k); !s) return s;
      }
      return {};
    }));
    for (int i = 0; i < 50; ++i) REQUIRE(append_event(*st, {{"type", "receipt"}, {"n", i}}));
  }
  std::vector<int> leaves;
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT pageno FROM dbstat WHERE name = 'prekeys' AND pagetype = 'leaf' ORDER BY pageno",
                         -1, &q, nullptr) == SQLITE_OK) {
    while (sqlite3_step(q) == SQLITE_ROW) leaves.push_back(sqlite3_column_int(q, 0));
  }
  sqlite3_finalize(q);
  sqlite3_close(db);
  return leaves;
}

void damage_page(const std::string& path, int page) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f.good());
  f.seekp(static_cast<std::streamoff>(page - 1) * 4096);
  std::string garbage(4096, '\xA5');
  f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  REQUIRE(f.good());
}

}  // namespace

TEST_CASE("store failures are the store's, everything else is the item's") {
  // A constraint violation is the store refusing our own write (a bug), not
  // a fact about the one item: whatever depended on it did not happen.
  for (const char* c :
       {"disk_full", "io_error", "db_corrupt", "db_access", "db_error", "busy", "savepoint_lost", "constraint"})
    CHECK_MESSAGE(is_store_failure(Error{c, ""}), c);
  for (const char* c : {"bad_mac", "no_session", "invalid_message", "bad_key", "not_paired", ""})
    CHECK_MESSAGE(!is_store_failure(Error{c, ""}), c);
  CHECK(is_store_corrupt(Error{"db_corrupt", ""}));
  CHECK(!is_store_corrupt(Error{"disk_full", ""}));
}

TEST_CASE("a damaged page: the observer hears of it, check finds it, recover salvages the rest") {
  TempDir dir;
  const std::string path = dir.file("store.db");
  auto leaves = make_profile(path);
  REQUIRE(leaves.size() >= 3);
  auto sound = check_integrity(path);
  REQUIRE(sound);
  CHECK(sound->ok);
  CHECK(sound->problems.empty());
  int64_t last_seq = 0;
  {
    auto st = open_ok(path);
    last_seq = st->inbox_last_seq().value();
  }
  damage_page(path, leaves[leaves.size() / 2]);

  std::vector<std::string> heard;
  set_corruption_observer([&](const Error& e) { heard.push_back(e.code); });
  {
    auto st = open_ok(path);
    auto n = st->count_prekeys(false);
    REQUIRE(!n);
    CHECK(n.error().code == "db_corrupt");
  }
  set_corruption_observer(nullptr);
  CHECK(!heard.empty());

  auto bad = check_integrity(path);
  REQUIRE(bad);
  CHECK(!bad->ok);
  CHECK(!bad->problems.empty());

  auto rec = recover_database(path);
  REQUIRE_MESSAGE(rec, (rec ? "" : rec.error().message));
  CHECK(std::filesystem::exists(rec->damaged_copy));
  CHECK(rec->rows > 50);
  CHECK(rec->damaged_tables == std::vector<std::string>{"prekeys"});
  auto good = check_integrity(path);
  REQUIRE(good);
  CHECK(good->ok);
  auto st = open_ok(path);
  auto n = st->count_prekeys(false);
  REQUIRE(n);
  CHECK(*n < 400);  // the damaged page's keys are gone
  CHECK(*n > 300);  // the rest are kept
  CHECK(st->inbox_since(0, 100).value().size() == 50);
  // The event log's sequence goes on after the last seq, never reusing one.
  auto next = append_event(*st, {{"type", "receipt"}});
  REQUIRE(next);
  CHECK(next->seq == last_seq + 1);
}

TEST_CASE("check and recover of a file that does not exist fail clearly") {
  TempDir dir;
  auto c = check_integrity(dir.file("none.db"));
  REQUIRE(!c);
  CHECK(c.error().code == "no_store");
  auto r = recover_database(dir.file("none.db"));
  REQUIRE(!r);
  CHECK(r.error().code == "no_store");
  CHECK(!std::filesystem::exists(dir.file("none.db")));
}
