// One owner per account across hosts (docs/ARCHITECTURE.md, "Cluster"): a
// lease row per profile in PostgreSQL names the owning host, a fencing
// token and an expiry. Expiry is judged by the database server's clock
// alone, so hosts never compare clocks. The token grows with every claim;
// the PostgreSQL store (postgres_store.hpp) refuses any write made under an
// older one, which is what makes a paused or partitioned host harmless after
// its successor started, whatever its own clock or state believes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wa/result.hpp"

namespace wa::store {

struct Lease {
  std::string profile;
  std::string owner;  // host id; "" when released
  int64_t token = 0;
  int64_t expires_in_ms = 0;  // <= 0: expired (or released)
};

class LeaseTable {
 public:
  // Connects and creates the schema if needed.
  static Result<LeaseTable> open(const std::string& conninfo);
  LeaseTable(LeaseTable&&) noexcept;
  LeaseTable& operator=(LeaseTable&&) noexcept;
  ~LeaseTable();

  // Claims `profile` for `host` for ttl_ms unless another host's lease is
  // live. A lease of `host` itself is claimed again (a restarted
  // supervisor): every claim is a new owner, with token + 1, so the previous
  // incarnation's processes are fenced too. An unknown profile is created
  // (cluster-wide) by its first claim. nullopt: held elsewhere.
  Result<std::optional<Lease>> claim(std::string_view profile, std::string_view host, int64_t ttl_ms);
  // Extends a lease we hold. false: it is no longer ours (expired and
  // claimed by another, or released): stop the account's processes.
  Result<bool> renew(std::string_view profile, std::string_view host, int64_t token, int64_t ttl_ms);
  // Gives a lease up at once (the token stays: the next claim moves it on).
  Status release(std::string_view profile, std::string_view host, int64_t token);
  // One profile's lease (nullopt: no row).
  Result<std::optional<Lease>> get(std::string_view profile);
  // Every profile's lease, sorted by profile.
  Result<std::vector<Lease>> all();

 private:
  struct Impl;
  explicit LeaseTable(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wa::store
