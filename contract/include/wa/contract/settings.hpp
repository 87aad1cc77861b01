// The settings a connection worker runs with: one typed struct with its
// defaults, filled by the supervisor from the config file, sent in the
// worker's `init` with to_json and read back by the worker with
// worker_settings_from_json — the same code on both ends of the link, so a
// default or a key is written once. The supervisor validates the operator's
// file (supervisor/src/config.cpp); from_json only refuses what cannot be
// used (a wrong type, a key of the wrong length) and keeps a default for
// what is absent.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "wa/crypto/crypto.hpp"
#include "wa/noise/cert.hpp"
#include "wa/result.hpp"

namespace wa::contract {

inline constexpr std::string_view kWhatsAppUrl = "wss://web.whatsapp.com/ws/chat";
// Pinned like Baileys 7.0.0-rc14: a version the server still accepts. A too
// old one is refused with <failure reason="405"> (event client_outdated), so
// it is configurable without a rebuild.
using WaVersion = std::array<uint32_t, 3>;
inline constexpr WaVersion kDefaultWaVersion{2, 3000, 1043857760};

// "A.B.C", each part a decimal uint32.
Result<WaVersion> parse_version(std::string_view text);
std::string version_text(const WaVersion& v);

// How the companion presents itself: [os, browser, browser version], as in
// Baileys' `browser` triple. Shown to the user in the phone's device list.
struct BrowserIdentity {
  std::string os = "Mac OS";
  std::string name = "Chrome";
  std::string version = "14.4.1";
};

struct ServerSettings {
  std::string url{kWhatsAppUrl};
  // The root of the server's certificate chain: WhatsApp's unless a test
  // server is configured.
  crypto::Key32 root_public_key = noise::kWaRootPublicKey;
  WaVersion wa_version = kDefaultWaVersion;
  BrowserIdentity browser;
  // Trust anchors added for the media host's HTTPS (the local server's
  // DIR/media-ca.pem); empty: the system's only.
  std::string media_ca_file;
};

struct RestartPolicy {
  int intensity = 5;  // more than this many restarts ...
  int period_s = 60;  // ... within this window -> failed
  int backoff_min_ms = 500;
  int backoff_max_ms = 30000;
};

// Starting many accounts at once (a supervisor restarted with thousands of
// autostart accounts, a server outage ending): connects in progress are
// capped and autostarts spread, so the server sees a steady trickle, not a
// storm (which gets accounts banned and makes every handshake slow). A
// worker holds its slot from its fork until its socket opens, its connect
// fails, it shows a QR / pairing code (waiting for a person), it exits, or
// connect_timeout_ms passes; an instance in restart backoff holds none.
struct StartPolicy {
  int max_connecting = 32;          // connection workers between fork and outcome at once
  int jitter_ms = 2000;             // boot, more autostarts than slots: each first waits a uniform delay in [0, jitter_ms]
  int connect_timeout_ms = 20000;   // a slot is given back after this long without an outcome
  // Connection workers are forked by a zygote (wa/ipc/zygote.hpp: loaded
  // once, pages shared) instead of exec'd one by one.
  bool zygote = true;
  // A worker start that finds the zygote still loading (it is started by the
  // first one, and again after it died) waits this long for it, on the
  // supervisor's loop, then execs that worker. At most the zygote's reply
  // deadline (wa::ipc::kZygoteReplyTimeoutMs).
  int zygote_wait_ms = 250;
};

struct SenderPolicy {
  int max_per_instance = 8;
  int idle_ms = 60000;
  // A send whose stanza left without the server's ack by then fails
  // `unknown_outcome` (it may have been delivered).
  int ack_timeout_ms = 30000;
  // A send still waiting for a sender (all slots busy, or behind earlier
  // sends of its conversation) after this long fails `timeout`: not sent.
  int queue_timeout_ms = 60000;
  // One media upload or download (a media retry included) may take this long.
  int transfer_timeout_ms = 300000;
};

// How wa-webhooks delivers (docs/CONTROL.md, "Webhooks"): the supervisor
// validates the config's `webhooks.delivery` into this, hands it out in
// `webhook_list` with to_json, and the deliverer reads it back with
// webhook_delivery_from_json — one struct and one set of defaults for both.
struct WebhookDelivery {
  int batch_max = 100;               // events per POST at most
  int timeout_ms = 10000;            // one POST, connect to last byte
  int backoff_min_ms = 500;          // the first retry waits about this long ...
  int backoff_max_ms = 60000;        // ... doubling (jittered) up to this
  int pause_after_failures = 50;     // failures in a row before the pair is paused ...
  int pause_after_ms = 3600000;      // ... or failing for this long
};
nlohmann::json to_json(const WebhookDelivery& d);
Result<WebhookDelivery> webhook_delivery_from_json(const nlohmann::json& j);

// Media (docs/ARCHITECTURE.md, "Media").
struct MediaPolicy {
  // send_media reads files only below these directories and download writes
  // only below them (or in the profile's media directory). Empty: send_media
  // by path is refused.
  std::vector<std::string> allowed_roots;
  // Kinds downloaded on arrival ("image", "video", "audio", "voice",
  // "document", "sticker"), when at most auto_download_max_bytes.
  std::vector<std::string> auto_download;
  int64_t auto_download_max_bytes = 16 << 20;
};

// Liveness on every link: a worker that stops answering is killed and
// restarted as if it had crashed. The timeouts sit above the store's
// worst-case busy wait (5 retries x 2 s, plus up to 2 s at the write gate), which blocks a worker's loop
// legitimately.
struct LivenessPolicy {
  int interval_ms = 5000;        // the supervisor's look at every worker's page
  // A connection worker whose loop has not come back from its callbacks for
  // this long (or sits stopped) is unresponsive; a sender, one that has not
  // come back with a request. A loop parked in its poll is waiting, never
  // silent (wa/ipc/heartbeat.hpp), so an idle worker needs no wakeup of its
  // own for this, and a loop blocked legitimately has the whole timeout.
  int timeout_ms = 30000;
  int ready_timeout_ms = 30000;  // fork -> `ready`
};

// The profile's event log (the inbox): how long replay can reach back.
struct EventRetention {
  int retention_days = 30;
  int max_per_profile = 100000;
};

// Where profiles keep their state (docs/ARCHITECTURE.md, "Cluster"). SQLite
// is the default: one file per profile under data_dir, nothing to install.
// PostgreSQL holds every profile of every host in one database; the
// supervisor then runs an account only while it holds the profile's lease
// and hands its fencing token to the account's processes.
struct StoreSettings {
  std::string engine = "sqlite";  // "sqlite" | "postgres"
  // postgres: a file (mode 0600) whose first line is the libpq connection
  // string; "" = the environment variable WA_PG_CONNINFO. Never logged.
  std::string conninfo_file;
  int64_t token = 0;  // postgres: the fencing token of this start (set by the supervisor)
  // postgres: the cluster's lease ttl; the connection worker checks its own
  // lease every ttl/4 and leaves the account's socket when it can no longer
  // prove it (0: no check).
  int lease_ttl_ms = 0;
};

// The cluster side of a PostgreSQL deployment (config section `cluster`).
struct ClusterSettings {
  std::string host_id;        // this host's name in the lease table; default: the hostname
  int lease_ttl_ms = 15000;   // a lease not renewed for this long may be claimed by another host
  // Placement: every scan_ms the supervisor lists the leases and claims
  // profiles nobody holds (new, released, or expired with their host), each
  // after a random delay of up to claim_jitter_ms (so hosts scanning
  // together do not all take the same ones) plus a share proportional to
  // how full it is; never more than `capacity` running accounts (0: no cap).
  int scan_ms = 5000;
  int claim_jitter_ms = 1000;
  int capacity = 0;
  // Commands and live events between hosts (docs/ARCHITECTURE.md, "Cluster"):
  // the NATS server(s), comma-separated; empty: this host answers only for
  // its own accounts. The URL may carry a user and password: never logged.
  // Environment WA_NATS_URL overrides it.
  std::string nats_url;
  // First token of every subject: <prefix>.host.<host>.cmd, <prefix>.ev.<profile>.
  std::string subject_prefix = "wa";
};

struct WorkerSettings {
  std::string data_dir;
  StoreSettings store;
  std::string log_level = "info";
  ServerSettings server;  // this profile's: the top level with its own keys laid over
  SenderPolicy senders;
  LivenessPolicy liveness;
  EventRetention events;
  MediaPolicy media;
  int shutdown_timeout_ms = 5000;
};

// Where a profile's downloads go unless the caller names a path.
std::string media_dir(const std::string& data_dir, const std::string& profile);

// The account's own log: every line of its connection worker and senders
// (wa/log.hpp set_file), read by the `logs` command.
std::string account_log_path(const std::string& data_dir, const std::string& profile);

nlohmann::json to_json(const WorkerSettings& s);
Result<WorkerSettings> worker_settings_from_json(const nlohmann::json& j);

}  // namespace wa::contract
