#include "wa/message/receipt.hpp"

#include "wa/message/id.hpp"
#include "wa/message/prekeys.hpp"
#include "wa/signal/keys.hpp"

namespace wa::message {

namespace {

struct Routing {
  std::string id, from, participant, recipient;
};

Result<Routing> routing_of(const binary::Node& stanza) {
  Routing r;
  r.id = std::string(stanza.attr_or("id", ""));
  r.from = std::string(stanza.attr_or("from", ""));
  if (!plausible_message_id(r.id)) return fail("bad_stanza", "stanza without a valid id");
  if (!binary::Jid::parse(r.from)) return fail("bad_stanza", "stanza without a valid from");
  r.participant = std::string(stanza.attr_or("participant", ""));
  r.recipient = std::string(stanza.attr_or("recipient", ""));
  return r;
}

void add_routing(binary::Attrs& a, const Routing& r) {
  if (!r.participant.empty()) a.emplace_back("participant", r.participant);
  if (!r.recipient.empty()) a.emplace_back("recipient", r.recipient);
}

}  // namespace

Result<binary::Node> build_delivery_receipt(const binary::Node& stanza, bool from_me, DeliveryKind kind) {
  auto r = routing_of(stanza);
  if (!r) return Unexpected<Error>{r.error()};
  binary::Attrs a{{"id", r->id}, {"to", r->from}};
  add_routing(a, *r);
  if (from_me)
    a.emplace_back("type", "sender");
  else if (kind == DeliveryKind::inactive)
    a.emplace_back("type", "inactive");
  return binary::Node("receipt", std::move(a));
}

Result<RetryKeys> make_retry_keys(store::Store& st, const Self& self) {
  RetryKeys k;
  auto pub = st.get_credential(store::cred::identity_pub);
  if (!pub) return Unexpected<Error>{pub.error()};
  if (!*pub || (*pub)->size() != 32) return fail("no_identity", "identity key missing");
  k.identity_pub = std::move(**pub);
  auto spk_id = st.get_credential(store::cred::signed_prekey_id);
  if (!spk_id) return Unexpected<Error>{spk_id.error()};
  auto id = *spk_id ? store::decode_u32(**spk_id) : std::nullopt;
  if (!id) return fail("no_identity", "signed prekey id missing");
  auto spk = st.load_signed_prekey(*id);
  if (!spk) return Unexpected<Error>{spk.error()};
  if (!*spk) return fail("no_identity", "signed prekey missing");
  k.signed_prekey = std::move(**spk);
  auto fresh = signal::generate_and_store_prekeys(st, 1);
  if (!fresh) return Unexpected<Error>{fresh.error()};
  if (fresh->empty()) return fail("no_identity", "no prekey generated");
  k.prekey = std::move(fresh->front());
  k.device_identity = self.account_identity;
  return k;
}

Result<binary::Node> build_retry_receipt(const binary::Node& stanza, uint32_t count, uint32_t registration_id,
                                         const RetryKeys* keys) {
  if (count == 0 || count > kMaxRetryCount) return fail("retry_exhausted", "no more retries for this message");
  auto r = routing_of(stanza);
  if (!r) return Unexpected<Error>{r.error()};
  binary::Attrs a{{"id", r->id}, {"to", r->from}, {"type", "retry"}};
  add_routing(a, *r);
  binary::Children children;
  children.emplace_back("retry", binary::Attrs{{"count", std::to_string(count)},
                                               {"id", r->id},
                                               {"t", std::string(stanza.attr_or("t", "0"))},
                                               {"v", "1"}});
  children.emplace_back("registration", binary::Attrs{}, write_be(registration_id, 4));
  if (keys) {
    binary::Children k;
    k.emplace_back("type", binary::Attrs{}, Bytes{0x05});
    k.emplace_back("identity", binary::Attrs{}, keys->identity_pub);
    binary::Children key;
    key.emplace_back("id", binary::Attrs{}, write_be(keys->prekey.id, 3));
    key.emplace_back("value", binary::Attrs{}, keys->prekey.pub);
    k.emplace_back("key", binary::Attrs{}, std::move(key));
    binary::Children skey;
    skey.emplace_back("id", binary::Attrs{}, write_be(keys->signed_prekey.id, 3));
    skey.emplace_back("value", binary::Attrs{}, keys->signed_prekey.pub);
    skey.emplace_back("signature", binary::Attrs{}, keys->signed_prekey.signature);
    k.emplace_back("skey", binary::Attrs{}, std::move(skey));
    if (!keys->device_identity.empty()) k.emplace_back("device-identity", binary::Attrs{}, keys->device_identity);
    children.emplace_back("keys", binary::Attrs{}, std::move(k));
  }
  return binary::Node("receipt", std::move(a), std::move(children));
}

Result<binary::Node> build_ack(const binary::Node& stanza, const Self* self, std::optional<int> error) {
  auto r = routing_of(stanza);
  if (!r) return Unexpected<Error>{r.error()};
  binary::Attrs a{{"class", stanza.tag}, {"id", r->id}, {"to", r->from}};
  add_routing(a, *r);
  bool is_message = stanza.tag == "message";
  if (auto t = stanza.attr("type"); t && (is_message || stanza.tag == "receipt" || stanza.tag == "notification"))
    a.emplace_back("type", std::string(*t));
  if (is_message && self) a.emplace_back("from", self->jid.str());
  if (error) a.emplace_back("error", std::to_string(*error));
  return binary::Node("ack", std::move(a));
}

std::optional<int> nack_code_for(const Error& e) {
  if (e.code == "unsupported") return 488;
  if (e.code == "bad_stanza" || e.code == "no_enc") return 487;
  if (e.code == "bad_protobuf") return 491;
  // duplicate_message is not here: a message key used again under a NEW id
  // (a peer whose ratchet forked under concurrency) is recoverable - the
  // retry receipt makes the sender re-encrypt. A true redelivery (the id is
  // already in the inbox) is recognised before this and receipted again.
  return std::nullopt;
}

}  // namespace wa::message
