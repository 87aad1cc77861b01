#include "wa/message/pipeline.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <set>

#include "wa/crypto/crypto.hpp"
#include "wa/message/group.hpp"
#include "wa/message/id.hpp"
#include "wa/message/prekeys.hpp"
#include "wa/message/self.hpp"
#include "wa/message/usync.hpp"

namespace wa::message {

namespace {

std::string new_iq_id() { return "s" + to_hex(crypto::random_bytes(6)); }

int64_t system_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Devices per user (non-AD jid string), from the cache or one usync query.
Result<std::map<std::string, std::vector<binary::Jid>>> resolve_devices(store::Store& st, const Transport& net,
                                                                       const Self& self,
                                                                       const std::vector<binary::Jid>& users,
                                                                       int64_t now, int64_t ttl) {
  std::map<std::string, std::vector<binary::Jid>> out;
  std::vector<binary::Jid> missing;
  for (const auto& u : users) {
    auto key = u.to_non_ad().str();
    if (out.count(key)) continue;
    auto cached = st.get_device_list(key);
    if (!cached) return Unexpected<Error>{cached.error()};
    if (*cached && now - (*cached)->fetched_at < ttl && now >= (*cached)->fetched_at) {
      out[key] = from_cache(u, **cached);
    } else {
      out[key];  // placeholder so duplicates are not queried twice
      missing.push_back(u.to_non_ad());
    }
  }
  if (missing.empty()) return out;
  auto answer = net.iq(build_usync_devices_query(missing, new_iq_id(), new_iq_id()));
  if (!answer) return Unexpected<Error>{answer.error()};
  auto parsed = parse_usync_devices(*answer);
  if (!parsed) return Unexpected<Error>{parsed.error()};
  for (const auto& u : *parsed) {
    auto key = u.user.str();
    auto it = out.find(key);
    if (it == out.end() || u.error) continue;  // not asked for, or unknown to the server
    it->second = device_jids(u, self);
    WA_TRY(st.put_device_list(key, to_cache(it->second, now)));
    if (u.lid && u.user.is_pn()) WA_TRY(st.put_lid_mapping(u.user.user, u.lid->user));
  }
  return out;
}

Status ensure_sessions(store::Store& st, signal::SignalSession& sig, const Transport& net, const std::vector<binary::Jid>& devices,
                       const IdentityPolicy& policy, SendOutcome& outcome) {
  auto need = devices_without_session(sig, devices);
  if (!need) return Unexpected<Error>{need.error()};
  if (need->empty()) return {};
  auto answer = net.iq(build_prekey_query(*need, new_iq_id()));
  if (!answer) return Unexpected<Error>{answer.error()};
  auto bundles = parse_prekey_response(*answer);
  if (!bundles) return Unexpected<Error>{bundles.error()};
  // One commit for all installs; full because an accepted identity change
  // is a trust decision that must not silently roll back.
  std::optional<Result<SessionReport>> rep;
  auto tx = st.transaction(store::Durability::full, [&]() -> Status {
    rep = install_bundles(sig, *bundles, policy);
    if (!*rep) return Unexpected<Error>{rep->error()};
    return {};
  });
  if (!tx) return Unexpected<Error>{tx.error()};
  outcome.identity_changed = (*rep)->identity_changed;
  return {};
}

Status check_ack(const binary::Node& ack, const std::string& id) {
  if (ack.tag != "ack" || ack.attr_or("id", "") != id) return fail("bad_ack", "the server acked something else");
  if (auto e = ack.attr("error")) return fail("rejected:" + std::string(*e), "the server refused the message");
  return {};
}

}  // namespace

Result<SendOutcome> send_message(store::Store& st, signal::SignalSession& sig, const Transport& net,
                                 const binary::Jid& to, ByteView message, const PipelineOptions& options) {
  const int64_t now = options.now ? options.now() : system_now();
  auto self = load_self(st);
  if (!self) return Unexpected<Error>{self.error()};
  if (!to.is_user() && !to.is_group()) return fail("bad_request", "can only send to a user or a group");
  const bool group = to.is_group();

  // 1. Who must get a copy: the peer (or the members) and our own user.
  std::vector<binary::Jid> users;
  GroupOptions gopt;
  if (group) {
    auto answer = net.iq(build_group_info_query(to, new_iq_id()));
    if (!answer) return Unexpected<Error>{answer.error()};
    auto info = parse_group_info(*answer);
    if (!info) return Unexpected<Error>{info.error()};
    users = info->participants;
    gopt.addressing_mode = info->addressing_mode.empty() ? "pn" : info->addressing_mode;
    // We keep PN addressing for Signal sessions (LID sessions: docs/PROTOCOL.md §12.1).
    gopt.lid_addressing = false;
  } else {
    users.push_back(to.to_non_ad());
  }
  binary::Jid own_user = self->jid.to_non_ad();
  users.push_back(own_user);
  auto devices = resolve_devices(st, net, *self, users, now, options.device_ttl_s);
  if (!devices) return Unexpected<Error>{devices.error()};

  std::vector<binary::Jid> peer_devices, own_devices, all;
  for (auto& [user, list] : *devices) {
    for (auto& d : list) {
      if (user == own_user.str())
        own_devices.push_back(d);
      else
        peer_devices.push_back(d);
      all.push_back(d);
    }
  }
  if (!group && peer_devices.empty()) return fail("no_devices", "the recipient has no devices");
  if (group && all.empty()) return fail("no_devices", "the group has no member devices");

  // 2. Sessions for every device that lacks one.
  SendOutcome outcome;
  {
    std::vector<binary::Jid> pairwise = group ? all : peer_devices;
    if (!group) pairwise.insert(pairwise.end(), own_devices.begin(), own_devices.end());
    auto st2 = ensure_sessions(st, sig, net, pairwise, options.policy, outcome);
    if (!st2) return Unexpected<Error>{st2.error()};
  }

  // 3. Encrypt and build.
  Outgoing out{generate_message_id(self->jid.user, now), to.to_non_ad(), Bytes(message.begin(), message.end())};
  // One transaction for the whole fan-out: each Signal encrypt would
  // otherwise make its own durable commit (an fsync per device, ~4 ms
  // here), and a crash mid-way now leaves no half-advanced ratchets behind
  // either (nothing was sent yet).
  std::optional<Result<Built>> built;
  // The plaintext for retry receipts is kept in the same commit, before
  // anything can ask: a store failure leaves neither half behind.
  auto tx = st.transaction(store::Durability::full, [&]() -> Status {
    built = group ? build_group_message(sig, st, *self, out, all, gopt)
                  : build_direct_message(sig, *self, out, peer_devices, own_devices);
    if (!*built) return Unexpected<Error>{built->error()};
    return st.sent_put(store::SentMessage{out.id, out.to.str(), out.message, now});
  });
  if (!tx) return Unexpected<Error>{tx.error()};
  if (!built || !*built) return fail("session_failed", "encryption produced nothing");
  Result<Built>& b = *built;
  outcome.id = out.id;
  outcome.devices = b->encrypted_for.size();
  for (const auto& [jid, err] : b->failed) outcome.skipped.push_back(jid);

  // 4. Relay and wait for the server's ack.
  auto ack = net.relay(b->stanza, out.id);
  if (!ack) return Unexpected<Error>{ack.error()};
  WA_TRY(check_ack(*ack, out.id));
  if (group && !b->sender_key_recipients.empty())
    WA_TRY(remember_sender_key_recipients(st, out.to.str(), b->sender_key_recipients));
  return outcome;
}

}  // namespace wa::message
