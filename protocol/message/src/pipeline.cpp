#include "wa/message/pipeline.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <set>

#include "wa/crypto/crypto.hpp"
#include "wa/message/group.hpp"
#include "wa/message/addons.hpp"
#include "wa/message/id.hpp"
#include "wa/message/lid.hpp"
#include "wa/message/prekeys.hpp"
#include "wa/message/self.hpp"
#include "wa/message/tctoken.hpp"
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

// Asks the server for a contact's LID (usync `lid` protocol) and stores it.
Status lookup_lid(store::Store& st, const Transport& net, const binary::Jid& pn_user) {
  const binary::Jid users[] = {pn_user};
  auto answer = net.iq(build_usync_devices_query(users, new_iq_id(), new_iq_id()));
  if (!answer) return Unexpected<Error>{answer.error()};
  auto parsed = parse_usync_devices(*answer);
  if (!parsed) return Unexpected<Error>{parsed.error()};
  for (const auto& u : *parsed)
    if (u.lid && u.user.is_pn() && u.user.user == pn_user.user) WA_TRY(st.put_lid_mapping(u.user.user, u.lid->user));
  return {};
}

// Which namespace a DM uses (docs/PROTOCOL.md §12.1): an account whose chats
// are LID-migrated writes to LIDs (the server refuses its PN-addressed DMs to
// migrated contacts), any other account to phone numbers (the server refuses
// its LID-addressed ones). The peer, our own user and every device in one
// stanza are in that one namespace; mixing them is refused with 400.
struct DirectAddress {
  binary::Jid peer;                    // non-AD
  binary::Jid own;                     // our user in the same namespace
  std::optional<binary::Jid> peer_pn;  // for peer_recipient_pn
};

Result<DirectAddress> address_direct(store::Store& st, const Transport& net, const Self& self, const binary::Jid& to) {
  const binary::Jid user = to.to_non_ad();
  const binary::Jid own_pn = self.jid.to_non_ad();
  if (!(user.is_pn() || user.is_lid())) return DirectAddress{user, own_pn, std::nullopt};
  auto alt = alternate_user(st, user);
  if (!alt) return Unexpected<Error>{alt.error()};
  if (!self.lid_migrated) {
    if (user.is_pn()) return DirectAddress{user, own_pn, std::nullopt};
    if (!*alt)
      return fail("unknown_contact", "no phone number is known for this LID and the account's chats are not LID-migrated");
    return DirectAddress{**alt, own_pn, std::nullopt};
  }
  const binary::Jid own_lid = self.lid->to_non_ad();
  if (user.is_lid()) return DirectAddress{user, own_lid, *alt};
  if (!*alt) {
    WA_TRY(lookup_lid(st, net, user));
    alt = alternate_user(st, user);
    if (!alt) return Unexpected<Error>{alt.error()};
  }
  // No LID on the server's side either: the contact is reached by number.
  if (!*alt) return DirectAddress{user, own_pn, std::nullopt};
  return DirectAddress{**alt, own_lid, user};
}

// After a DM went out: give the contact our token once per bucket, so it
// can write to us (docs/PROTOCOL.md §12.2). Best effort - the message is
// sent whatever happens here; a lost issue is redone on the next send.
void maybe_issue_token(store::Store& st, const Transport& net, const binary::Jid& peer, int64_t now) {
  if (net.issue_token) return net.issue_token(peer);  // the caller's, after the send
  auto due = tctoken::should_issue(st, peer, now);
  if (!due || !*due) return;
  auto answer = net.iq(tctoken::build_issue_iq(peer, now, new_iq_id()));
  if (!answer || answer->attr_or("type", "") != "result") return;
  (void)tctoken::mark_issued(st, peer, now);
}

Status check_ack(const binary::Node& ack, const std::string& id) {
  if (ack.tag != "ack" || ack.attr_or("id", "") != id) return fail("bad_ack", "the server acked something else");
  if (auto e = ack.attr("error")) return fail("rejected:" + std::string(*e), "the server refused the message");
  return {};
}

}  // namespace

Status settle_ack(store::Store& st, const Result<binary::Node>& ack, const AfterAck& after,
                  const std::function<void(const binary::Jid& peer)>& issue_token) {
  // A refusal may come as the ack itself or as the transport's rejected:<code>.
  const bool refused_463 = ack ? (ack->tag == "ack" && ack->attr_or("error", "") == "463")
                               : ack.error().code == "rejected:463";
  if (!after.dm_peer.empty() && refused_463) {
    // Not delivered, and never resent: each try counts as another reach-out.
    // Our own token lets the contact write to us (Baileys does the same).
    auto peer = binary::Jid::parse(after.dm_peer);
    if (!peer || !peer->is_user()) return fail("bad_message", "the DM's contact is not a user JID");
    if (issue_token) issue_token(peer->to_non_ad());
    return fail("privacy_token_required",
                "the contact does not take a first message from this account without its privacy token (463)");
  }
  if (!ack) return Unexpected<Error>{ack.error()};
  WA_TRY(check_ack(*ack, after.id));
  // The server's hash of the devices it expected: another one means our
  // cached lists are stale (a device came or went unannounced) - the next
  // send asks again. Advisory: the message itself went out.
  if (auto phash = ack->attr("phash"); phash && *phash != after.phash)
    for (const auto& user : after.stale_users) WA_TRY(st.delete_device_list(user));
  if (!after.group.empty() && !after.sender_key_recipients.empty()) {
    std::vector<binary::Jid> devices;
    for (const auto& d : after.sender_key_recipients) {
      auto j = binary::Jid::parse(d);
      if (!j) return fail("bad_message", "a sender-key recipient is not a JID");
      devices.push_back(std::move(*j));
    }
    WA_TRY(remember_sender_key_recipients(st, after.group, devices));
  }
  return {};
}

namespace {

// Everything of a send before the relay: the stanza built and encrypted, its
// plaintext and add-ons stored (in the encrypt transaction).
struct Prepared {
  bool group = false;
  binary::Jid chat;
  Outgoing out;
  Built built;
  std::vector<binary::Jid> peer_devices, own_devices, all;
  std::map<std::string, std::vector<binary::Jid>> devices;
  SendOutcome outcome;
  bool issue_token = false;  // a DM whose bucket has no token issued yet
};

// The code of the offline transport's refusal (never leaves this file).
constexpr const char* kNeedsNetwork = "needs_network";

Result<Prepared> prepare(store::Store& st, signal::SignalSession& sig, const Transport& net, const binary::Jid& to,
                         ByteView message, const PipelineOptions& options, int64_t now) {
  auto self = load_self(st);
  if (!self) return Unexpected<Error>{self.error()};
  if (!to.is_user() && !to.is_group()) return fail("bad_request", "can only send to a user or a group");
  Prepared p;
  p.group = to.is_group();
  const bool group = p.group;

  // 1. Who must get a copy: the peer (or the members) and our own user, in
  // the one namespace the stanza uses.
  std::vector<binary::Jid> users;
  GroupOptions gopt;
  binary::Jid chat = to.to_non_ad();
  binary::Jid own_user = self->jid.to_non_ad();
  std::optional<binary::Jid> peer_pn;
  if (group) {
    auto answer = net.iq(build_group_info_query(to, new_iq_id()));
    if (!answer) return Unexpected<Error>{answer.error()};
    auto info = parse_group_info(*answer);
    if (!info) return Unexpected<Error>{info.error()};
    for (const auto& m : info->mappings) WA_TRY(st.put_lid_mapping(m.pn_user, m.lid_user));
    users = info->participants;
    gopt.addressing_mode = info->addressing_mode.empty() ? "pn" : info->addressing_mode;
    // A LID group lists LID members; our own devices and our sender key go
    // under our LID too.
    gopt.lid_addressing = gopt.addressing_mode == "lid" && self->lid.has_value();
    if (gopt.lid_addressing) own_user = self->lid->to_non_ad();
  } else {
    auto addr = address_direct(st, net, *self, to);
    if (!addr) return Unexpected<Error>{addr.error()};
    chat = addr->peer;
    own_user = addr->own;
    peer_pn = addr->peer_pn;
    users.push_back(chat);
  }
  users.push_back(own_user);
  auto devices = resolve_devices(st, net, *self, users, now, options.device_ttl_s);
  if (!devices) return Unexpected<Error>{devices.error()};

  for (auto& [user, list] : *devices) {
    for (auto& d : list) {
      if (user == own_user.str())
        p.own_devices.push_back(d);
      else
        p.peer_devices.push_back(d);
      p.all.push_back(d);
    }
  }
  if (!group && p.peer_devices.empty()) return fail("no_devices", "the recipient has no devices");
  if (group && p.all.empty()) return fail("no_devices", "the group has no member devices");

  // 2. Sessions for every device that lacks one.
  {
    std::vector<binary::Jid> pairwise = group ? p.all : p.peer_devices;
    if (!group) pairwise.insert(pairwise.end(), p.own_devices.begin(), p.own_devices.end());
    auto st2 = ensure_sessions(st, sig, net, pairwise, options.policy, p.outcome);
    if (!st2) return Unexpected<Error>{st2.error()};
  }

  // 3. Encrypt and build.
  p.out = Outgoing{generate_message_id(self->jid.user, now), chat, Bytes(message.begin(), message.end())};
  DirectExtras extras{peer_pn, std::nullopt};
  if (!group) {
    auto token = tctoken::valid_token_for(st, chat, now);
    if (!token) return Unexpected<Error>{token.error()};
    extras.tctoken = std::move(*token);
    auto due = tctoken::should_issue(st, chat, now);
    p.issue_token = due && *due;  // best effort, like the issue itself
  }
  // One transaction for the whole fan-out: each Signal encrypt would
  // otherwise make its own durable commit (an fsync per device, ~4 ms
  // here), and a crash mid-way now leaves no half-advanced ratchets behind
  // either (nothing was sent yet).
  std::optional<Result<Built>> built;
  // The plaintext for retry receipts is kept in the same commit, before
  // anything can ask: a store failure leaves neither half behind.
  auto tx = st.transaction(store::Durability::full, [&]() -> Status {
    built = group ? build_group_message(sig, st, *self, p.out, p.all, gopt)
                  : build_direct_message(sig, *self, p.out, p.peer_devices, p.own_devices, extras);
    if (!*built) return Unexpected<Error>{built->error()};
    WA_TRY(st.sent_put(store::SentMessage{p.out.id, p.out.to.str(), p.out.message, now}));
    // A poll's (or an editable message's) secret, for the votes and edits to come.
    return record_addons(st, p.out.id, p.out.to.str(), own_user.str(), p.out.message, now);
  });
  if (!tx) return Unexpected<Error>{tx.error()};
  if (!built || !*built) return fail("session_failed", "encryption produced nothing");
  p.built = std::move(**built);
  p.chat = chat;
  p.devices = std::move(*devices);
  return p;
}

}  // namespace

Result<SendOutcome> send_message(store::Store& st, signal::SignalSession& sig, const Transport& net,
                                 const binary::Jid& to, ByteView message, const PipelineOptions& options) {
  const int64_t now = options.now ? options.now() : system_now();
  // The warm path - device lists cached, every session there, nothing to ask
  // the server - runs its reads and the encrypt commit in ONE write
  // transaction: each read on its own was a transaction of its own (a
  // shared-memory lock, a page-cache check against the other processes'
  // writes), about fifteen per send across the sender workers of an account.
  // Any step that needs the server undoes it (nothing was encrypted or
  // written yet) and the send takes the path below, which asks.
  std::optional<Result<Prepared>> prep;
  if (!to.is_group()) {
    Transport offline;
    offline.iq = [](const binary::Node&) -> Result<binary::Node> { return fail(kNeedsNetwork, "needs the server"); };
    offline.relay = [](const binary::Node&, const std::string&) -> Result<binary::Node> {
      return fail(kNeedsNetwork, "needs the server");
    };
    auto tx = st.transaction(store::Durability::full, [&]() -> Status {
      prep = prepare(st, sig, offline, to, message, options, now);
      if (!*prep) return Unexpected<Error>{prep->error()};
      return {};
    });
    if (!tx && tx.error().code == kNeedsNetwork) prep.reset();
    else if (!tx) return Unexpected<Error>{tx.error()};
  }
  if (!prep) prep = prepare(st, sig, net, to, message, options, now);
  if (!*prep) return Unexpected<Error>{prep->error()};
  Prepared& p = **prep;
  const bool group = p.group;
  const binary::Jid& chat = p.chat;
  Outgoing& out = p.out;
  Built* b = &p.built;
  SendOutcome outcome = std::move(p.outcome);
  outcome.id = out.id;
  outcome.devices = b->encrypted_for.size();
  for (const auto& [jid, err] : b->failed) outcome.skipped.push_back(jid);
  // 4. What the ack settles (settle_ack): the devices the server should
  // have expected, the lists to drop if it did not, the sender-key memory.
  AfterAck after;
  after.id = out.id;
  if (!group) after.dm_peer = chat.str();
  {
    std::vector<std::string> addressed;
    for (const auto& d : group ? p.all : p.peer_devices) addressed.push_back(d.str());
    if (!group)
      for (const auto& d : p.own_devices) addressed.push_back(d.str());
    after.phash = crypto::participant_hash(std::move(addressed));
  }
  for (const auto& [user, list] : p.devices) after.stale_users.push_back(user);
  if (group) {
    after.group = out.to.str();
    for (const auto& d : b->sender_key_recipients) after.sender_key_recipients.push_back(d.str());
  }
  auto give_token = [&](const binary::Jid& peer) { maybe_issue_token(st, net, peer, now); };

  // 5. Relay: handed off (the ack is settled by the socket's holder), or
  // here, waiting for the server's ack.
  if (net.hand_off) {
    // Whether a token is due was read with the rest, before the relay; the
    // holder issues it once the ack is good.
    if (!group && p.issue_token) give_token(chat);
    WA_TRY(net.hand_off(b->stanza, after));
    return outcome;
  }
  auto ack = net.relay(b->stanza, out.id);
  WA_TRY(settle_ack(st, ack, after, give_token));
  if (!group && p.issue_token) give_token(chat);
  return outcome;
}

}  // namespace wa::message
