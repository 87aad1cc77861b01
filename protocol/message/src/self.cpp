#include "wa/message/self.hpp"

namespace wa::message {

store::Address Self::address(bool use_lid) const {
  const binary::Jid& j = (use_lid && lid) ? *lid : jid;
  return store::Address{j.to_non_ad().signal_address_name(), j.device};
}

binary::Jid Self::user_for(const binary::Jid& peer) const {
  return (peer.is_lid() && lid) ? lid->to_non_ad() : jid.to_non_ad();
}

bool Self::is_own_user(std::string_view user) const noexcept {
  if (user.empty()) return false;
  return user == jid.user || (lid && user == lid->user);
}

Result<Self> load_self(store::Store& st) {
  Self s;
  auto jid = st.get_credential(store::cred::own_jid);
  if (!jid) return Unexpected<Error>{jid.error()};
  if (!*jid || (*jid)->empty()) return fail("not_paired", "the profile is not paired");
  auto parsed = binary::Jid::parse(as_chars(**jid));
  if (!parsed || !parsed->is_user()) return fail("db_corrupt", "stored own jid does not parse");
  s.jid = std::move(*parsed);
  auto lid = st.get_credential(store::cred::own_lid);
  if (!lid) return Unexpected<Error>{lid.error()};
  if (*lid && !(*lid)->empty()) {
    auto pl = binary::Jid::parse(as_chars(**lid));
    if (!pl || !pl->is_user()) return fail("db_corrupt", "stored own lid does not parse");
    // The stored LID may lack the device: it is the same device as the PN one.
    if (pl->device == 0) pl->device = s.jid.device;
    s.lid = std::move(*pl);
  }
  auto mig = st.get_credential(store::cred::lid_migrated);
  if (!mig) return Unexpected<Error>{mig.error()};
  s.lid_migrated = s.lid && *mig && !(*mig)->empty() && (**mig)[0] == 1;
  auto acc = st.get_credential(store::cred::account_identity);
  if (!acc) return Unexpected<Error>{acc.error()};
  if (*acc) s.account_identity = std::move(**acc);
  auto reg = st.get_credential(store::cred::registration_id);
  if (!reg) return Unexpected<Error>{reg.error()};
  auto reg_id = *reg ? store::decode_u32(**reg) : std::nullopt;
  if (!reg_id) return fail("db_corrupt", "registration id is missing");
  s.registration_id = *reg_id;
  return s;
}

}  // namespace wa::message
