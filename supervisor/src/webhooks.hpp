// Webhooks, the supervisor's side: the definitions (the config file's
// `webhooks.endpoints`, read-only, plus those created at run time) and one
// durable cursor per (webhook, profile) in data_dir/webhooks.db. The
// deliverer (wa-webhooks) is a client of the control socket: it reads the
// definitions with webhook_list, pages each profile's event log from the
// cursor, and moves the cursor with webhook_ack only after a 2xx. The
// cursors live here, not in the deliverer, so the deliverer holds no state:
// kill -9 of it loses nothing, and a cursor only ever moves forward.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "wa/contract/settings.hpp"
#include "wa/result.hpp"
#include "wa/store/sqlite_handle.hpp"

namespace wa::supervisor {

class EventBus;

struct WebhookEndpoint {
  std::string name;
  std::string url;
  std::string secret;
  std::vector<std::string> events;    // event types; empty = every type
  std::vector<std::string> profiles;  // profile names, or "*" = every profile
  bool from_config = false;
};

// How wa-webhooks delivers (config `webhooks.delivery`; handed to it in
// webhook_list, so it never parses the config itself).
using contract::WebhookDelivery;

struct WebhooksConfig {
  std::vector<WebhookEndpoint> endpoints;
  WebhookDelivery delivery;
};

// The checks one endpoint passes, from the config or from webhook_create:
// a name of [A-Za-z0-9_.-] (1..64), an http:// or https:// URL, event type
// names, profile names or "*". The error names the field.
Status validate_webhook(const WebhookEndpoint& w);
// Parses `webhooks` of the config file (where = "webhooks").
Result<WebhooksConfig> parse_webhooks_config(const nlohmann::json& v);

// One (webhook, profile) delivery state, as stored.
struct WebhookCursor {
  int64_t cursor = 0;  // every event with seq <= cursor was delivered (or filtered out)
  bool paused = false;
  int64_t failures = 0;
  std::string last_error;
  int64_t paused_at = 0;  // Unix ms, 0 while active
};

class Webhooks {
 public:
  // `profiles` lists the profiles the supervisor knows now.
  using ProfilesFn = std::function<std::vector<std::string>()>;
  Webhooks(WebhooksConfig config, std::string db_path, EventBus& bus, ProfilesFn profiles);

  // A profile the supervisor now knows (config, run-time, created): each
  // webhook that covers it and has no cursor for it yet gets one at the
  // log's head, before the instance starts. Events of a profile created
  // later all come after that moment, so none is skipped.
  void profile_added(const std::string& profile);
  // The profile's data was deleted (remove --purge): its log starts again
  // at seq 1, so a cursor kept from before would skip the new events.
  void profile_purged(const std::string& profile);

  // The registry's webhook_* commands (validated by the registry); returns
  // the control reply.
  nlohmann::json handle(std::string_view cmd, const nlohmann::json& req);

 private:
  Status open();
  std::vector<WebhookEndpoint> all();  // config first, then run-time
  std::optional<WebhookEndpoint> find(const std::string& name);
  Result<int64_t> head(const std::string& profile);
  Result<WebhookCursor> cursor_of(const std::string& webhook, const std::string& profile);
  // A cursor for each covered profile that has none, at the log's head.
  Status place_cursors(const WebhookEndpoint& w, const std::vector<std::string>& profiles);
  nlohmann::json describe(const WebhookEndpoint& w, bool secrets);

  nlohmann::json cmd_create(const nlohmann::json& req);
  nlohmann::json cmd_list(const nlohmann::json& req);
  nlohmann::json cmd_delete(const nlohmann::json& req);
  nlohmann::json cmd_ack(const nlohmann::json& req);
  nlohmann::json cmd_pause(const nlohmann::json& req);
  nlohmann::json cmd_resume(const nlohmann::json& req);

  WebhooksConfig config_;
  std::string db_path_;
  EventBus& bus_;
  ProfilesFn profiles_;
  store::sql::Db db_;
};

bool webhook_covers(const WebhookEndpoint& w, const std::string& profile);

}  // namespace wa::supervisor
