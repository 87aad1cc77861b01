// Issuing our privacy token (docs/PROTOCOL.md §12.2): the contact we write
// to gets a token that lets it write back to us. A DM's sender names the
// contact in its done when one is due; the connection worker issues it here,
// after the send was answered, so no send waits for this iq.
#include <ctime>

#include "client.hpp"
#include "wa/log.hpp"
#include "wa/message/tctoken.hpp"

namespace wa::connection {

using binary::Node;

void Client::issue_privacy_token(const binary::Jid& peer) {
  if (phase_ != Phase::open || token_issue_unsupported_ || !store_) return;
  const std::string key = peer.to_non_ad().str();
  // One issue per contact in flight: back-to-back sends all find it due
  // until the first answer is stored.
  if (!tokens_issuing_.insert(key).second) return;
  const auto now = static_cast<int64_t>(std::time(nullptr));
  // Another sender's issue may have been stored since this one read it.
  if (auto due = message::tctoken::should_issue(*store_, peer, now); !due || !*due) {
    tokens_issuing_.erase(key);
    return;
  }
  query(message::tctoken::build_issue_iq(peer, now, ""), [this, peer, key, now](Result<Node> r) {
    tokens_issuing_.erase(key);
    if (r) {
      if (r->attr_or("type", "") != "result") return;
      if (auto st = message::tctoken::mark_issued(*store_, peer, now); !st)
        WA_WARN("privacy token issued but not recorded: %s", st.error().code.c_str());
      return;
    }
    // A server without privacy tokens (the 2024 one) says so with a 501:
    // asking again on every message would only cost it an iq each time.
    if (r.error().code == "rejected:501") {
      token_issue_unsupported_ = true;
      WA_INFO("the server does not take privacy tokens (501): not issuing them on this connection");
      return;
    }
    WA_DEBUG("privacy token not issued: %s", r.error().code.c_str());
  });
}

}  // namespace wa::connection
