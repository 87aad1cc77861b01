#include "wa/store/open.hpp"

#include <charconv>
#include <filesystem>

#include "wa/store/postgres_store.hpp"
#include "wa/store/sqlite_store.hpp"

namespace wa::store {

namespace {
constexpr std::string_view kPrefix = "postgres:";

struct PgLocator {
  int64_t token = 0;
  std::string profile;
  std::string conninfo_file;
};

Result<PgLocator> parse(std::string_view l) {
  l.remove_prefix(kPrefix.size());
  const size_t a = l.find(':');
  const size_t b = a == std::string_view::npos ? a : l.find(':', a + 1);
  if (b == std::string_view::npos) return fail("bad_request", "a postgres store locator is postgres:TOKEN:PROFILE:FILE");
  PgLocator out;
  auto [end, ec] = std::from_chars(l.data(), l.data() + a, out.token);
  if (ec != std::errc() || end != l.data() + a || out.token < 0) return fail("bad_request", "bad token in a store locator");
  out.profile = std::string(l.substr(a + 1, b - a - 1));
  out.conninfo_file = std::string(l.substr(b + 1));
  if (out.profile.empty()) return fail("bad_request", "no profile in a store locator");
  return out;
}

Result<PgOptions> pg_options(std::string_view locator) {
  auto l = parse(locator);
  if (!l) return Unexpected<Error>{l.error()};
  auto info = pg_conninfo(l->conninfo_file);
  if (!info) return Unexpected<Error>{info.error()};
  return PgOptions{std::move(*info), std::move(l->profile), l->token};
}
}  // namespace

std::string pg_locator(int64_t token, std::string_view profile, std::string_view conninfo_file) {
  return std::string(kPrefix) + std::to_string(token) + ":" + std::string(profile) + ":" + std::string(conninfo_file);
}

bool is_pg_locator(std::string_view locator) { return locator.starts_with(kPrefix); }

std::string profile_locator(std::string_view engine, const std::string& data_dir, std::string_view profile,
                            int64_t token, std::string_view conninfo_file) {
  if (engine == "postgres") return pg_locator(token, profile, conninfo_file);
  return data_dir + "/" + std::string(profile) + "/store.db";
}

Result<std::unique_ptr<Store>> open(std::string_view locator) {
  if (!is_pg_locator(locator)) return open_sqlite(std::string(locator));
  auto o = pg_options(locator);
  if (!o) return Unexpected<Error>{o.error()};
  return open_postgres(*o);
}

Result<bool> exists(std::string_view locator) {
  if (!is_pg_locator(locator)) {
    std::error_code ec;
    return std::filesystem::exists(std::string(locator), ec);
  }
  auto o = pg_options(locator);
  if (!o) return Unexpected<Error>{o.error()};
  return pg_has_profile(o->conninfo, o->profile);
}

Status wipe_signal(std::string_view locator) {
  if (!is_pg_locator(locator)) return wipe_signal_state(std::string(locator));
  auto o = pg_options(locator);
  if (!o) return Unexpected<Error>{o.error()};
  return pg_wipe_signal_state(*o);
}

}  // namespace wa::store
