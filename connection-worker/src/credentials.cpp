#include "credentials.hpp"

#include <algorithm>

#include "wa/binary/jid.hpp"
#include "wa/signal/keys.hpp"

namespace wa::connection {

namespace cred = store::cred;

namespace {

Result<std::optional<Bytes>> get(store::Store& st, std::string_view name) { return st.get_credential(name); }

Status read_key32(store::Store& st, std::string_view name, crypto::Key32& out) {
  auto v = get(st, name);
  if (!v) return Unexpected<Error>{v.error()};
  if (!*v || (*v)->size() != 32) return fail("db_corrupt", "credential '" + std::string(name) + "' is missing or malformed");
  std::copy((*v)->begin(), (*v)->end(), out.begin());
  secure_wipe(**v);
  return {};
}

Result<std::string> read_text(store::Store& st, std::string_view name) {
  auto v = get(st, name);
  if (!v) return Unexpected<Error>{v.error()};
  if (!*v) return std::string();
  return std::string(as_chars(**v));
}

}  // namespace

Result<Credentials> load_or_create_credentials(store::Store& st) {
  auto created = signal::ensure_registration(st);
  if (!created) return Unexpected<Error>{created.error()};
  // The connection's own secrets: noise key and ADV secret.
  Status made = st.transaction(store::Durability::full, [&]() -> Status {
    auto noise = get(st, cred::noise_priv);
    if (!noise) return Unexpected<Error>{noise.error()};
    if (!*noise) {
      crypto::KeyPair kp = crypto::generate_keypair();
      WA_TRY(st.put_credential(cred::noise_pub, kp.pub));
      WA_TRY(st.put_credential(cred::noise_priv, kp.priv));
    } else {
      secure_wipe(**noise);
    }
    auto adv = get(st, cred::adv_secret);
    if (!adv) return Unexpected<Error>{adv.error()};
    if (!*adv) {
      Bytes secret = crypto::random_bytes(32);
      WA_TRY(st.put_credential(cred::adv_secret, secret));
      secure_wipe(secret);
    }
    return {};
  });
  if (!made) return Unexpected<Error>{made.error()};

  Credentials c;
  WA_TRY(read_key32(st, cred::noise_priv, c.noise.priv));
  WA_TRY(read_key32(st, cred::noise_pub, c.noise.pub));
  WA_TRY(read_key32(st, cred::identity_priv, c.identity.priv));
  WA_TRY(read_key32(st, cred::identity_pub, c.identity.pub));
  auto reg = get(st, cred::registration_id);
  if (!reg) return Unexpected<Error>{reg.error()};
  auto reg_id = *reg ? store::decode_u32(**reg) : std::nullopt;
  if (!reg_id) return fail("db_corrupt", "registration id is missing or malformed");
  c.registration_id = *reg_id;
  auto spk_id_raw = get(st, cred::signed_prekey_id);
  if (!spk_id_raw) return Unexpected<Error>{spk_id_raw.error()};
  auto spk_id = *spk_id_raw ? store::decode_u32(**spk_id_raw) : std::nullopt;
  if (!spk_id) return fail("db_corrupt", "signed prekey id is missing or malformed");
  auto spk = st.load_signed_prekey(*spk_id);
  if (!spk) return Unexpected<Error>{spk.error()};
  if (!*spk) return fail("db_corrupt", "signed prekey is missing");
  c.signed_prekey = std::move(**spk);
  auto adv = get(st, cred::adv_secret);
  if (!adv) return Unexpected<Error>{adv.error()};
  if (!*adv || (*adv)->size() != 32) return fail("db_corrupt", "adv secret is missing or malformed");
  c.adv_secret = std::move(**adv);

  auto jid = read_text(st, cred::own_jid);
  if (!jid) return Unexpected<Error>{jid.error()};
  auto lid = read_text(st, cred::own_lid);
  if (!lid) return Unexpected<Error>{lid.error()};
  auto platform = read_text(st, cred::platform);
  if (!platform) return Unexpected<Error>{platform.error()};
  auto account = get(st, cred::account_identity);
  if (!account) return Unexpected<Error>{account.error()};
  c.jid = *jid;
  c.lid = *lid;
  c.platform = *platform;
  if (*account) c.account = std::move(**account);
  return c;
}

Status save_pairing(store::Store& st, const PairedIdentity& p, ByteView adv_secret) {
  auto lid = binary::Jid::parse(p.lid);
  return st.transaction(store::Durability::full, [&]() -> Status {
    WA_TRY(st.put_credential(cred::own_jid, as_bytes(p.jid)));
    WA_TRY(st.put_credential(cred::own_lid, as_bytes(p.lid)));
    WA_TRY(st.put_credential(cred::platform, as_bytes(p.platform)));
    WA_TRY(st.put_credential(cred::account_identity, p.account));
    if (!adv_secret.empty()) WA_TRY(st.put_credential(cred::adv_secret, adv_secret));
    if (p.lid_migrated) WA_TRY(st.put_credential(cred::lid_migrated, Bytes{static_cast<uint8_t>(*p.lid_migrated ? 1 : 0)}));
    // Our own PN <-> LID: our other devices' sessions live under our LID.
    if (auto pn = binary::Jid::parse(p.jid); pn && lid && lid->is_lid())
      WA_TRY(st.put_lid_mapping(pn->user, lid->user));
    // The phone's identity is trusted for its device 0, under the LID
    // address when there is one (as both reference clients do).
    if (!p.primary_identity.empty()) {
      std::string name;
      if (lid && !lid->user.empty()) {
        name = lid->to_non_ad().signal_address_name();
      } else if (auto pn = binary::Jid::parse(p.jid); pn) {
        name = pn->to_non_ad().signal_address_name();
      }
      if (!name.empty()) WA_TRY(st.replace_identity(store::Address{name, 0}, p.primary_identity));
    }
    return {};
  });
}

Status forget_credentials(store::Store& st) {
  return st.transaction(store::Durability::full, [&]() -> Status {
    for (std::string_view name : {cred::own_jid, cred::own_lid, cred::lid_migrated, cred::platform, cred::account_identity,
                                  cred::adv_secret, cred::noise_pub, cred::noise_priv, cred::identity_pub,
                                  cred::identity_priv, cred::registration_id, cred::signed_prekey_id,
                                  cred::routing_info, cred::push_name, cred::next_prekey_id})
      WA_TRY(st.delete_credential(name));
    return {};
  });
}

}  // namespace wa::connection
