#include "wa/store/lease.hpp"

#include "pg_conn.hpp"
#include "wa/store/postgres_store.hpp"

namespace wa::store {

namespace {
template <class T>
Unexpected<Error> err(const Result<T>& r) {
  return {r.error()};
}

// The lease columns as we read them: expiry relative to the server's clock.
constexpr const char* kColumns =
    "profile, owner, token, "
    "CASE WHEN expires_at = '-infinity' THEN -1 "
    "ELSE (extract(epoch FROM (expires_at - clock_timestamp())) * 1000)::bigint END";

Result<Lease> read_lease(const pg::Rows& r, int i) {
  auto token = r.i64(i, 2);
  auto ms = r.i64(i, 3);
  if (!token || !ms) return fail("db_corrupt", "malformed lease row");
  return Lease{r.text(i, 0), r.text(i, 1), *token, *ms};
}
}  // namespace

struct LeaseTable::Impl {
  pg::Conn c;
};

LeaseTable::LeaseTable(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LeaseTable::LeaseTable(LeaseTable&&) noexcept = default;
LeaseTable& LeaseTable::operator=(LeaseTable&&) noexcept = default;
LeaseTable::~LeaseTable() = default;

Result<LeaseTable> LeaseTable::open(const std::string& conninfo) {
  WA_TRY(pg_migrate(conninfo));
  auto c = pg::Conn::open(conninfo, 10000, "leases");
  if (!c) return err(c);
  return LeaseTable(std::make_unique<Impl>(Impl{std::move(*c)}));
}

Result<std::optional<Lease>> LeaseTable::claim(std::string_view profile, std::string_view host, int64_t ttl_ms) {
  pg::Conn& c = impl_->c;
  WA_TRY(c.script("BEGIN"));
  auto body = [&]() -> Result<std::optional<Lease>> {
    // A profile configured on any host exists cluster-wide from its first
    // claim; other hosts see its lease row only once this commits, already
    // owned, so a host scanning for unowned profiles never finds it free.
    WA_TRY(c.run("INSERT INTO wa_profiles (profile) VALUES ($1) ON CONFLICT DO NOTHING", pg::Params().text(profile)));
    WA_TRY(c.run("INSERT INTO wa_leases (profile) VALUES ($1) ON CONFLICT DO NOTHING", pg::Params().text(profile)));
    // FOR UPDATE waits for every write transaction of the old owner in
    // flight (each holds the row FOR KEY SHARE, see PgStore): a claim and a
    // fenced write never interleave. Renewals (plain UPDATEs) never wait
    // for writers.
    WA_TRY(c.run("SELECT 1 FROM wa_leases WHERE profile = $1 FOR UPDATE", pg::Params().text(profile)));
    auto r = c.run(std::string("UPDATE wa_leases SET owner = $2, token = token + 1, "
                               "expires_at = clock_timestamp() + $3 * interval '1 millisecond' "
                               "WHERE profile = $1 AND (owner = '' OR owner = $2 OR expires_at <= clock_timestamp()) "
                               "RETURNING ") + kColumns,
                   pg::Params().text(profile).text(host).i64(ttl_ms));
    if (!r) return err(r);
    if (r->empty()) return std::optional<Lease>{};
    auto l = read_lease(*r, 0);
    if (!l) return err(l);
    return std::optional<Lease>{std::move(*l)};
  };
  auto out = body();
  if (!out) {
    (void)c.script("ROLLBACK");
    return out;
  }
  WA_TRY(c.script("COMMIT"));
  return out;
}

Result<bool> LeaseTable::renew(std::string_view profile, std::string_view host, int64_t token, int64_t ttl_ms) {
  // No expiry test: an expired lease nobody claimed is still ours (no
  // newer owner exists, so none of our writes was refused meanwhile).
  auto r = impl_->c.run("UPDATE wa_leases SET expires_at = clock_timestamp() + $4 * interval '1 millisecond' "
                        "WHERE profile = $1 AND owner = $2 AND token = $3",
                        pg::Params().text(profile).text(host).i64(token).i64(ttl_ms));
  if (!r) return err(r);
  return r->affected() == 1;
}

Status LeaseTable::release(std::string_view profile, std::string_view host, int64_t token) {
  auto r = impl_->c.run("UPDATE wa_leases SET owner = '', expires_at = '-infinity' "
                        "WHERE profile = $1 AND owner = $2 AND token = $3",
                        pg::Params().text(profile).text(host).i64(token));
  if (!r) return err(r);
  return {};
}

Result<std::optional<Lease>> LeaseTable::get(std::string_view profile) {
  auto r = impl_->c.run(std::string("SELECT ") + kColumns + " FROM wa_leases WHERE profile = $1",
                        pg::Params().text(profile));
  if (!r) return err(r);
  if (r->empty()) return std::optional<Lease>{};
  auto l = read_lease(*r, 0);
  if (!l) return err(l);
  return std::optional<Lease>{std::move(*l)};
}

Result<std::vector<Lease>> LeaseTable::all() {
  auto r = impl_->c.run(std::string("SELECT ") + kColumns + " FROM wa_leases ORDER BY profile");
  if (!r) return err(r);
  std::vector<Lease> out;
  for (int i = 0; i < r->size(); ++i) {
    auto l = read_lease(*r, i);
    if (!l) return err(l);
    out.push_back(std::move(*l));
  }
  return out;
}

}  // namespace wa::store
