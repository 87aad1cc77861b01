#include "settings.hpp"

#include "wa/contract/deadlines.hpp"

namespace wa::connection {

ClientSettings client_settings(const contract::WorkerSettings& w) {
  ClientSettings out;
  out.url = w.server.url;
  out.root_public = w.server.root_public_key;
  out.version = w.server.wa_version;
  out.browser_os = w.server.browser.os;
  out.browser_name = w.server.browser.name;
  out.browser_version = w.server.browser.version;
  out.data_dir = w.data_dir;
  out.iq_timeout_ms = contract::kAccountIqTimeoutMs;
  return out;
}

}  // namespace wa::connection
