#include "webhooks.hpp"

#include <algorithm>
#include <limits>
#include <set>

#include "events.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/log.hpp"

namespace wa::supervisor {

using json = nlohmann::json;
namespace sql = store::sql;

namespace {

constexpr size_t kMaxError = 1024;

// Cursors decide what a receiver never sees again: every write is
// synchronous=FULL (a power cut must not move a cursor back past an ack the
// deliverer already acted on, nor lose a pause).
constexpr const char* kSchema = R"(
PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
CREATE TABLE IF NOT EXISTS webhooks(
  name TEXT PRIMARY KEY, url TEXT NOT NULL, secret TEXT NOT NULL,
  events TEXT NOT NULL, profiles TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cursors(
  webhook TEXT NOT NULL, profile TEXT NOT NULL, cursor INTEGER NOT NULL DEFAULT 0,
  paused INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '', paused_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(webhook, profile));
)";

json to_list(const std::vector<std::string>& v) {
  json a = json::array();
  for (const auto& s : v) a.push_back(s);
  return a;
}

std::vector<std::string> from_list_text(const std::string& text) {
  std::vector<std::string> out;
  auto v = ipc::parse_json_text(as_bytes(text));
  if (v && v->is_array())
    for (const auto& s : *v)
      if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

json reply_error(const Error& e) { return ipc::error_reply(e.code, e.message); }

}  // namespace

bool webhook_covers(const WebhookEndpoint& w, const std::string& profile) {
  return std::any_of(w.profiles.begin(), w.profiles.end(), [&](const std::string& p) { return p == "*" || p == profile; });
}

Webhooks::Webhooks(WebhooksConfig config, std::string db_path, EventBus& bus, ProfilesFn profiles)
    : config_(std::move(config)), db_path_(std::move(db_path)), bus_(bus), profiles_(std::move(profiles)) {}

Status Webhooks::open() {
  if (db_) return {};
  WA_TRY(sql::prepare_private_file(db_path_));
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(db_path_.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
                           nullptr);
  sql::Db db(raw);
  if (rc != SQLITE_OK) return Unexpected<Error>{sql::sqlite_error(raw, rc, "open webhooks.db")};
  // Only the supervisor's loop writes this file; a short timeout covers
  // an operator's sqlite3 shell reading it.
  sqlite3_busy_timeout(raw, 250);
  WA_TRY(sql::exec(raw, kSchema));
  db_ = std::move(db);
  return {};
}

std::vector<WebhookEndpoint> Webhooks::all() {
  std::vector<WebhookEndpoint> out = config_.endpoints;
  if (!open()) return out;
  (void)sql::with_statement(db_.get(), "SELECT name, url, secret, events, profiles FROM webhooks ORDER BY name",
                            [&](sql::Query& q) {
                              return sql::each_row(q, [&]() -> Status {
                                WebhookEndpoint w;
                                w.name = q.col_text(0);
                                w.url = q.col_text(1);
                                w.secret = q.col_text(2);
                                w.events = from_list_text(q.col_text(3));
                                w.profiles = from_list_text(q.col_text(4));
                                // A config endpoint of the same name wins (created before the
                                // config named it): the run-time one is shadowed, not merged.
                                for (const auto& c : config_.endpoints)
                                  if (c.name == w.name) return {};
                                out.push_back(std::move(w));
                                return {};
                              });
                            });
  return out;
}

std::optional<WebhookEndpoint> Webhooks::find(const std::string& name) {
  for (auto& w : all())
    if (w.name == name) return w;
  return std::nullopt;
}

Result<int64_t> Webhooks::head(const std::string& profile) {
  auto r = bus_.replay(profile, std::numeric_limits<int64_t>::max(), 0);
  if (!r) return Unexpected<Error>{r.error()};
  return (*r)["last_seq"].get<int64_t>();
}

Result<WebhookCursor> Webhooks::cursor_of(const std::string& webhook, const std::string& profile) {
  WA_TRY(open());
  return sql::with_statement(
      db_.get(), "SELECT cursor, paused, failures, last_error, paused_at FROM cursors WHERE webhook=? AND profile=?",
      [&](sql::Query& q) -> Result<WebhookCursor> {
        q.bind(std::string_view(webhook)).bind(std::string_view(profile));
        auto row = q.step();
        if (!row) return Unexpected<Error>{row.error()};
        WebhookCursor c;  // no row: a profile nobody placed a cursor for starts at the beginning
        if (*row) {
          c.cursor = q.col_int(0);
          c.paused = q.col_int(1) != 0;
          c.failures = q.col_int(2);
          c.last_error = q.col_text(3);
          c.paused_at = q.col_int(4);
        }
        return c;
      });
}

Status Webhooks::place_cursors(const WebhookEndpoint& w, const std::vector<std::string>& profiles) {
  WA_TRY(open());
  for (const auto& p : profiles) {
    if (!webhook_covers(w, p)) continue;
    auto exists = sql::with_statement(db_.get(), "SELECT 1 FROM cursors WHERE webhook=? AND profile=?",
                                      [&](sql::Query& q) { return q.bind(std::string_view(w.name)).bind(std::string_view(p)).step(); });
    if (!exists) return Unexpected<Error>{exists.error()};
    if (*exists) continue;
    auto h = head(p);
    if (!h) return Unexpected<Error>{h.error()};
    WA_TRY(sql::with_statement(db_.get(), "INSERT OR IGNORE INTO cursors(webhook, profile, cursor) VALUES(?, ?, ?)",
                               [&](sql::Query& q) {
                                 return q.bind(std::string_view(w.name)).bind(std::string_view(p)).bind(*h).run();
                               }));
  }
  return {};
}

void Webhooks::profile_added(const std::string& profile) {
  for (const auto& w : all())
    if (auto st = place_cursors(w, {profile}); !st)
      WA_ERROR("[%s] webhook %s: cannot place its cursor: %s", profile.c_str(), w.name.c_str(),
               st.error().message.c_str());
}

void Webhooks::profile_purged(const std::string& profile) {
  if (!open()) return;
  auto st = sql::with_statement(db_.get(), "DELETE FROM cursors WHERE profile=?",
                                [&](sql::Query& q) { return q.bind(std::string_view(profile)).run(); });
  if (!st) WA_ERROR("[%s] cannot drop its webhook cursors: %s", profile.c_str(), st.error().message.c_str());
}

json Webhooks::describe(const WebhookEndpoint& w, bool secrets) {
  json d{{"name", w.name},
         {"url", w.url},
         {"events", to_list(w.events)},
         {"profiles", to_list(w.profiles)},
         {"source", w.from_config ? "config" : "runtime"}};
  if (secrets) d["secret"] = w.secret;
  json deliveries = json::array();
  for (const auto& p : profiles_()) {
    if (!webhook_covers(w, p)) continue;
    json one{{"profile", p}};
    auto c = cursor_of(w.name, p);
    if (!c) {
      one["error"] = c.error().code;
      deliveries.push_back(std::move(one));
      continue;
    }
    one["cursor"] = c->cursor;
    one["state"] = c->paused ? "paused" : "active";
    one["failures"] = c->failures;
    one["last_error"] = c->last_error.empty() ? json(nullptr) : json(c->last_error);
    one["paused_at"] = c->paused ? json(c->paused_at) : json(nullptr);
    if (auto h = head(p)) {
      one["head"] = *h;
      one["lag"] = std::max<int64_t>(0, *h - c->cursor);
    } else {
      one["head"] = nullptr;
      one["lag"] = nullptr;
    }
    deliveries.push_back(std::move(one));
  }
  d["deliveries"] = std::move(deliveries);
  return d;
}

json Webhooks::handle(std::string_view cmd, const json& req) {
  if (auto st = open(); !st) return reply_error(st.error());
  if (cmd == "webhook_create") return cmd_create(req);
  if (cmd == "webhook_list") return cmd_list(req);
  if (cmd == "webhook_delete") return cmd_delete(req);
  if (cmd == "webhook_ack") return cmd_ack(req);
  if (cmd == "webhook_pause") return cmd_pause(req);
  if (cmd == "webhook_resume") return cmd_resume(req);
  return ipc::error_reply("unknown_command", "no webhook command '" + std::string(cmd) + "'");
}

json Webhooks::cmd_create(const json& req) {
  WebhookEndpoint w;
  w.name = req["name"].get<std::string>();
  w.url = req["url"].get<std::string>();
  w.secret = req["secret"].get<std::string>();
  if (req.contains("events")) w.events = req["events"].get<std::vector<std::string>>();
  w.profiles = req.contains("profiles") ? req["profiles"].get<std::vector<std::string>>() : std::vector<std::string>{"*"};
  if (auto st = validate_webhook(w); !st) return reply_error(st.error());
  for (const auto& c : config_.endpoints)
    if (c.name == w.name) return ipc::error_reply("in_config", "webhook '" + w.name + "' is defined in the config file");
  auto inserted = sql::with_statement(
      db_.get(),
      "INSERT OR IGNORE INTO webhooks(name, url, secret, events, profiles, created_at) VALUES(?, ?, ?, ?, ?, ?)",
      [&](sql::Query& q) -> Result<bool> {
        const std::string events = to_list(w.events).dump(), profiles = to_list(w.profiles).dump();
        q.bind(std::string_view(w.name)).bind(std::string_view(w.url)).bind(std::string_view(w.secret));
        q.bind(std::string_view(events)).bind(std::string_view(profiles)).bind(now_ms());
        WA_TRY(q.run());
        return sqlite3_changes(db_.get()) > 0;
      });
  if (!inserted) return reply_error(inserted.error());
  if (!*inserted) return ipc::error_reply("webhook_exists", "a webhook named '" + w.name + "' exists");
  // Old cursors of a webhook of this name deleted earlier must not leak into this one.
  (void)sql::with_statement(db_.get(), "DELETE FROM cursors WHERE webhook=?",
                            [&](sql::Query& q) { return q.bind(std::string_view(w.name)).run(); });
  // From now on: the profiles it covers start at their log's head.
  if (auto st = place_cursors(w, profiles_()); !st) return reply_error(st.error());
  WA_INFO("webhook %s created", w.name.c_str());
  return ipc::ok_reply(describe(w, false));
}

json Webhooks::cmd_list(const json& req) {
  const bool secrets = req.value("secrets", false);
  const std::string only = req.value("name", "");
  json list = json::array();
  for (const auto& w : all())
    if (only.empty() || w.name == only) list.push_back(describe(w, secrets));
  if (!only.empty() && list.empty()) return ipc::error_reply("unknown_webhook", "no webhook '" + only + "'");
  const WebhookDelivery& d = config_.delivery;
  return ipc::ok_reply({{"webhooks", std::move(list)},
                        {"delivery", contract::to_json(d)}});
}

json Webhooks::cmd_delete(const json& req) {
  const std::string name = req["name"].get<std::string>();
  for (const auto& c : config_.endpoints)
    if (c.name == name)
      return ipc::error_reply("in_config", "webhook '" + name + "' is defined in the config file; remove it there");
  Status st = sql::transaction(db_.get(), [&]() -> Status {
    WA_TRY(sql::with_statement(db_.get(), "DELETE FROM webhooks WHERE name=?",
                               [&](sql::Query& q) { return q.bind(std::string_view(name)).run(); }));
    if (sqlite3_changes(db_.get()) == 0) return fail("unknown_webhook", "no webhook '" + name + "'");
    return sql::with_statement(db_.get(), "DELETE FROM cursors WHERE webhook=?",
                               [&](sql::Query& q) { return q.bind(std::string_view(name)).run(); });
  });
  if (!st) return reply_error(st.error());
  WA_INFO("webhook %s deleted", name.c_str());
  return ipc::ok_reply({{"name", name}, {"deleted", true}});
}

json Webhooks::cmd_ack(const json& req) {
  const std::string name = req["name"].get<std::string>(), profile = req["profile"].get<std::string>();
  const int64_t seq = req["seq"].get<int64_t>();
  auto w = find(name);
  if (!w) return ipc::error_reply("unknown_webhook", "no webhook '" + name + "'");
  if (!webhook_covers(*w, profile))
    return ipc::error_reply("bad_request", "webhook '" + name + "' does not cover profile '" + profile + "'");
  // A cursor past the head would skip events not written yet: refused.
  auto h = head(profile);
  if (!h) return reply_error(h.error());
  if (seq > *h)
    return ipc::error_reply("bad_request", "seq " + std::to_string(seq) + " is past the log's head " + std::to_string(*h));
  // Forward only (MAX): a late ack of an older batch never moves it back.
  auto st = sql::with_statement(db_.get(),
                                "INSERT INTO cursors(webhook, profile, cursor) VALUES(?1, ?2, ?3) "
                                "ON CONFLICT(webhook, profile) DO UPDATE SET cursor=MAX(cursor, ?3), failures=0, "
                                "last_error=''",
                                [&](sql::Query& q) {
                                  return q.bind(std::string_view(name)).bind(std::string_view(profile)).bind(seq).run();
                                });
  if (!st) return reply_error(st.error());
  auto c = cursor_of(name, profile);
  if (!c) return reply_error(c.error());
  return ipc::ok_reply(
      {{"name", name}, {"profile", profile}, {"cursor", c->cursor}, {"state", c->paused ? "paused" : "active"}});
}

json Webhooks::cmd_pause(const json& req) {
  const std::string name = req["name"].get<std::string>(), profile = req["profile"].get<std::string>();
  std::string error = req["error"].get<std::string>();
  if (error.size() > kMaxError) error.resize(kMaxError);
  const int64_t failures = req.value("failures", int64_t{0});
  auto w = find(name);
  if (!w) return ipc::error_reply("unknown_webhook", "no webhook '" + name + "'");
  if (!webhook_covers(*w, profile))
    return ipc::error_reply("bad_request", "webhook '" + name + "' does not cover profile '" + profile + "'");
  auto before = cursor_of(name, profile);
  if (!before) return reply_error(before.error());
  if (!before->paused) {
    const int64_t at = now_ms();
    auto st = sql::with_statement(db_.get(),
                                  "INSERT INTO cursors(webhook, profile, cursor, paused, failures, last_error, paused_at) "
                                  "VALUES(?1, ?2, ?3, 1, ?4, ?5, ?6) ON CONFLICT(webhook, profile) DO UPDATE SET "
                                  "paused=1, failures=?4, last_error=?5, paused_at=?6",
                                  [&](sql::Query& q) {
                                    q.bind(std::string_view(name)).bind(std::string_view(profile)).bind(before->cursor);
                                    return q.bind(failures).bind(std::string_view(error)).bind(at).run();
                                  });
    if (!st) return reply_error(st.error());
    WA_WARN("[%s] webhook %s paused after %lld failures at cursor %lld", profile.c_str(), name.c_str(),
            static_cast<long long>(failures), static_cast<long long>(before->cursor));
    // A webhook never stops silently: the pause is in the profile's log.
    bus_.emit(profile, {{"type", "webhook_paused"},
                        {"webhook", name},
                        {"cursor", before->cursor},
                        {"failures", failures},
                        {"error", error}});
  }
  auto c = cursor_of(name, profile);
  if (!c) return reply_error(c.error());
  return ipc::ok_reply({{"name", name},
                        {"profile", profile},
                        {"cursor", c->cursor},
                        {"state", "paused"},
                        {"paused_at", c->paused_at},
                        {"already_paused", before->paused}});
}

json Webhooks::cmd_resume(const json& req) {
  const std::string name = req["name"].get<std::string>();
  auto w = find(name);
  if (!w) return ipc::error_reply("unknown_webhook", "no webhook '" + name + "'");
  std::vector<std::string> targets;
  if (req.contains("profile")) {
    targets.push_back(req["profile"].get<std::string>());
    if (!webhook_covers(*w, targets.front()))
      return ipc::error_reply("bad_request", "webhook '" + name + "' does not cover profile '" + targets.front() + "'");
  } else {
    auto listed = sql::with_statement(db_.get(), "SELECT profile FROM cursors WHERE webhook=? AND paused=1",
                                      [&](sql::Query& q) -> Status {
                                        q.bind(std::string_view(name));
                                        return sql::each_row(q, [&]() -> Status {
                                          targets.push_back(q.col_text(0));
                                          return {};
                                        });
                                      });
    if (!listed) return reply_error(listed.error());
  }
  json resumed = json::array();
  for (const auto& p : targets) {
    auto c = cursor_of(name, p);
    if (!c) return reply_error(c.error());
    if (!c->paused) continue;
    auto st = sql::with_statement(db_.get(),
                                  "UPDATE cursors SET paused=0, failures=0, last_error='', paused_at=0 "
                                  "WHERE webhook=? AND profile=?",
                                  [&](sql::Query& q) { return q.bind(std::string_view(name)).bind(std::string_view(p)).run(); });
    if (!st) return reply_error(st.error());
    WA_INFO("[%s] webhook %s resumed at cursor %lld", p.c_str(), name.c_str(), static_cast<long long>(c->cursor));
    bus_.emit(p, {{"type", "webhook_resumed"}, {"webhook", name}, {"cursor", c->cursor}});
    resumed.push_back({{"profile", p}, {"cursor", c->cursor}});
  }
  return ipc::ok_reply({{"name", name}, {"resumed", std::move(resumed)}});
}

}  // namespace wa::supervisor
