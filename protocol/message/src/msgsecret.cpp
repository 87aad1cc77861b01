#include "wa/message/msgsecret.hpp"

#include "wa/crypto/crypto.hpp"

namespace wa::message {

Bytes new_message_secret() { return crypto::random_bytes(kMessageSecretBytes); }

Bytes addon_key(ByteView secret, const AddonParty& p, std::string_view use_case) {
  Bytes info;
  for (std::string_view part : {p.target_id, p.target_sender, p.modifier, use_case})
    info.insert(info.end(), part.begin(), part.end());
  return crypto::hkdf_sha256(secret, {}, info, 32);
}

Bytes addon_aad(const AddonParty& p, std::string_view use_case) {
  Bytes aad;
  // Only votes and event responses bind the ciphertext to target and
  // author; whatsmeow and WA Web leave it empty for every other use.
  if (use_case != kUsePollVote && use_case != kUseEventResponse) return aad;
  aad.insert(aad.end(), p.target_id.begin(), p.target_id.end());
  aad.push_back(0);
  aad.insert(aad.end(), p.modifier.begin(), p.modifier.end());
  return aad;
}

Result<Sealed> seal_addon(ByteView secret, const AddonParty& p, std::string_view use_case, ByteView plaintext,
                          ByteView iv) {
  if (secret.size() != kMessageSecretBytes) return fail("bad_request", "a message secret is 32 bytes");
  if (!iv.empty() && iv.size() != 12) return fail("bad_request", "an add-on IV is 12 bytes");
  Sealed out;
  out.iv = iv.empty() ? crypto::random_bytes(12) : Bytes(iv.begin(), iv.end());
  Bytes key = addon_key(secret, p, use_case);
  auto enc = crypto::aes_gcm_encrypt(key, out.iv, addon_aad(p, use_case), plaintext);
  secure_wipe(key);
  if (!enc) return Unexpected<Error>{enc.error()};
  out.payload = std::move(*enc);
  return out;
}

Result<Bytes> open_addon(ByteView secret, const AddonParty& p, std::string_view use_case, ByteView payload,
                         ByteView iv) {
  if (secret.size() != kMessageSecretBytes) return fail("bad_request", "a message secret is 32 bytes");
  if (iv.size() != 12 || payload.size() < 16) return fail("bad_request", "malformed add-on ciphertext");
  Bytes key = addon_key(secret, p, use_case);
  auto dec = crypto::aes_gcm_decrypt(key, iv, addon_aad(p, use_case), payload);
  secure_wipe(key);
  return dec;
}

}  // namespace wa::message
