// Prekeys: after login the server's count of our one-time prekeys is
// checked; the first upload gives it kInitialPreKeys, later ones top it up
// by kPreKeyRefill when it falls to kPreKeyLowWater (at login, or when the
// server says so with <notification type="encrypt"><count/>).
#include <cstdlib>

#include "client.hpp"
#include "wa/log.hpp"
#include "wa/signal/keys.hpp"

namespace wa::connection {

using binary::Node;

namespace {

Bytes be(uint32_t v, size_t n) {
  Bytes out(n);
  for (size_t i = 0; i < n; ++i) out[n - 1 - i] = static_cast<uint8_t>(v >> (8 * i));
  return out;
}

Node bytes_node(std::string tag, ByteView b) { return Node(std::move(tag), {}, Bytes(b.begin(), b.end())); }

}  // namespace

void Client::check_prekeys() {
  Node count("iq", {{"to", kServerJid}, {"type", "get"}, {"xmlns", "encrypt"}}, binary::Children{Node("count")});
  query(std::move(count), [this](Result<Node> r) {
    if (!r) {
      if (r.error().code == "not_connected") return;
      drop({CloseAction::reconnect_backoff, "prekey_count_" + r.error().code});
      return;
    }
    size_t on_server = 0;
    if (const Node* c = r->child("count")) on_server = std::strtoul(std::string(c->attr_or("value", "0")).c_str(), nullptr, 10);
    auto uploaded = store_->count_prekeys(true);
    size_t want = 0;
    if (uploaded && *uploaded == 0 && on_server == 0) {
      want = kInitialPreKeys;
    } else if (on_server <= kPreKeyLowWater) {
      want = kPreKeyRefill;
    }
    if (want == 0) return set_passive_active();
    upload_prekeys(want, [this] { set_passive_active(); });
  });
}

void Client::upload_prekeys(size_t count, std::function<void()> then) {
  // Keys generated before a crash but never uploaded go first.
  auto pending = store_->prekeys_not_uploaded(count);
  if (!pending) {
    WA_ERROR("prekeys: %s", pending.error().message.c_str());
    return then();
  }
  std::vector<store::PreKey> keys = std::move(*pending);
  if (keys.size() < count) {
    auto fresh = signal::generate_and_store_prekeys(*store_, count - keys.size());
    if (!fresh) {
      WA_ERROR("cannot generate prekeys: %s", fresh.error().message.c_str());
      return then();
    }
    for (auto& k : *fresh) keys.push_back(std::move(k));
  }
  binary::Children list;
  std::vector<uint32_t> ids;
  list.reserve(keys.size());
  for (auto& k : keys) {
    list.emplace_back("key", binary::Attrs{}, binary::Children{bytes_node("id", be(k.id, 3)), bytes_node("value", k.pub)});
    ids.push_back(k.id);
    secure_wipe(k.priv);
  }
  const auto& spk = creds_.signed_prekey;
  Node skey("skey", {}, binary::Children{bytes_node("id", be(spk.id, 3)), bytes_node("value", spk.pub),
                                        bytes_node("signature", spk.signature)});
  Node iq("iq", {{"to", kServerJid}, {"type", "set"}, {"xmlns", "encrypt"}},
          binary::Children{bytes_node("registration", be(creds_.registration_id, 4)), bytes_node("type", Bytes{5}),
                           bytes_node("identity", creds_.identity.pub), Node("list", {}, std::move(list)), std::move(skey)});
  query(std::move(iq), [this, ids = std::move(ids), then = std::move(then)](Result<Node> r) {
    if (!r) {
      if (r.error().code == "not_connected") return;
      if (r.error().code == "timeout") return drop({CloseAction::reconnect_backoff, "prekey_upload_timeout"});
      WA_WARN("prekey upload refused: %s", r.error().code.c_str());
      return then();
    }
    if (auto st = store_->mark_prekeys_uploaded(ids); !st) WA_ERROR("prekeys: %s", st.error().message.c_str());
    WA_INFO("uploaded %zu prekeys", ids.size());
    then();
  });
}

bool Client::on_encrypt_notification(const Node& node) {
  // The other encrypt notifications (a contact's identity changed) are the
  // receive path's.
  if (node.child("count") == nullptr || node.attr_or("from", "") != kServerJid) return false;
  ack(node);
  if (phase_ != Phase::open) return true;
  size_t n = std::strtoul(std::string(node.child("count")->attr_or("value", "0")).c_str(), nullptr, 10);
  if (n <= kPreKeyLowWater) upload_prekeys(kPreKeyRefill, [] {});
  return true;
}

}  // namespace wa::connection
