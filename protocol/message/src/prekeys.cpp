#include "wa/message/prekeys.hpp"

namespace wa::message {

std::optional<uint32_t> read_be(ByteView b, size_t width) {
  if (width == 0 || width > 4 || b.size() != width) return std::nullopt;
  uint32_t v = 0;
  for (uint8_t c : b) v = (v << 8) | c;
  return v;
}

Bytes write_be(uint32_t v, size_t width) {
  Bytes out(width);
  for (size_t i = 0; i < width; ++i) out[width - 1 - i] = static_cast<uint8_t>(v >> (8 * i));
  return out;
}

namespace {

const Bytes* child_bytes(const binary::Node& n, std::string_view tag) {
  const binary::Node* c = n.child(tag);
  return c ? c->bytes() : nullptr;
}

Result<Bytes> key32(const binary::Node& n, std::string_view tag) {
  const Bytes* b = child_bytes(n, tag);
  if (!b) return fail("bad_bundle", "missing <" + std::string(tag) + ">");
  if (b->size() == 33 && (*b)[0] == 0x05) return Bytes(b->begin() + 1, b->end());
  if (b->size() != 32) return fail("bad_bundle", "<" + std::string(tag) + "> is not a 32-byte key");
  return *b;
}

Result<uint32_t> id24(const binary::Node& n) {
  const Bytes* b = child_bytes(n, "id");
  auto v = b ? read_be(*b, 3) : std::nullopt;
  if (!v) return fail("bad_bundle", "key <id> must be 3 bytes");
  return *v;
}

}  // namespace

binary::Node build_prekey_query(std::span<const binary::Jid> devices, std::string_view iq_id, bool reason_identity) {
  binary::Children users;
  users.reserve(devices.size());
  for (const auto& d : devices) {
    binary::Attrs a{{"jid", d.str()}};
    if (reason_identity) a.emplace_back("reason", "identity");
    users.emplace_back("user", std::move(a));
  }
  binary::Children key;
  key.emplace_back("key", binary::Attrs{}, std::move(users));
  return binary::Node("iq",
                      binary::Attrs{{"xmlns", "encrypt"}, {"type", "get"}, {"to", "@s.whatsapp.net"},
                                    {"id", std::string(iq_id)}},
                      std::move(key));
}

Result<signal::PreKeyBundle> parse_key_material(const binary::Node& holder, uint32_t registration_id,
                                                uint32_t device_id) {
  const binary::Node* keys = holder.child("keys");
  const binary::Node& h = keys ? *keys : holder;
  signal::PreKeyBundle b;
  b.registration_id = registration_id;
  b.device_id = device_id;
  auto identity = key32(h, "identity");
  if (!identity) return Unexpected<Error>{identity.error()};
  b.identity_key = std::move(*identity);
  const binary::Node* skey = h.child("skey");
  if (!skey) return fail("bad_bundle", "missing <skey>");
  auto sid = id24(*skey);
  if (!sid) return Unexpected<Error>{sid.error()};
  b.signed_prekey_id = *sid;
  auto spub = key32(*skey, "value");
  if (!spub) return Unexpected<Error>{spub.error()};
  b.signed_prekey_pub = std::move(*spub);
  const Bytes* sig = child_bytes(*skey, "signature");
  if (!sig || sig->size() != 64) return fail("bad_bundle", "<skey><signature> must be 64 bytes");
  b.signed_prekey_signature = *sig;
  if (const binary::Node* key = h.child("key")) {
    auto kid = id24(*key);
    if (!kid) return Unexpected<Error>{kid.error()};
    auto kpub = key32(*key, "value");
    if (!kpub) return Unexpected<Error>{kpub.error()};
    b.prekey_id = *kid;
    b.prekey_pub = std::move(*kpub);
  }
  return b;
}

Result<std::vector<FetchedBundle>> parse_prekey_response(const binary::Node& iq) {
  if (iq.tag != "iq") return fail("bad_bundle", "not an iq");
  if (iq.attr_or("type", "") == "error") {
    const binary::Node* e = iq.child("error");
    return fail("iq_error:" + std::string(e ? e->attr_or("code", "?") : "?"), "prekey query failed");
  }
  const binary::Node* list = iq.child("list");
  if (!list) return fail("bad_bundle", "prekey response without <list>");
  std::vector<FetchedBundle> out;
  for (const binary::Node* u : list->children("user")) {
    auto jid = binary::Jid::parse(u->attr_or("jid", ""));
    if (!jid || !jid->is_user()) continue;
    auto entry = [&]() -> Result<signal::PreKeyBundle> {
      if (const binary::Node* err = u->child("error"))
        return fail("bundle_error:" + std::string(err->attr_or("code", "?")), std::string(err->attr_or("text", "")));
      const Bytes* reg = child_bytes(*u, "registration");
      auto reg_id = reg ? read_be(*reg, 4) : std::nullopt;
      if (!reg_id) return fail("bad_bundle", "<registration> must be 4 bytes");
      return parse_key_material(*u, *reg_id, jid->device);
    }();
    out.push_back(FetchedBundle{*jid, std::move(entry)});
  }
  return out;
}

}  // namespace wa::message
