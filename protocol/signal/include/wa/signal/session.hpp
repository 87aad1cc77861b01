// The Signal protocol for one profile: pairwise sessions (pkmsg/msg) and
// group sender keys, on libsignal-protocol-c, persisted in a wa::store::Store.
//
// CROSS-PROCESS ATOMICITY. A profile's connection worker decrypts and its
// sender workers encrypt, in different processes, on the same session
// records. libsignal does load -> mutate -> store per operation; if two
// processes interleave those steps one overwrites the other's update and the
// ratchet forks (reused message keys, undecryptable messages). So every
// operation here runs entirely inside ONE Store::transaction (BEGIN
// IMMEDIATE), which serialises it against every other process on the
// profile. A caller may wrap an operation in its own transaction (e.g.
// decrypt + inbox insert before acking): the operation then joins it.
//
// Test-only: WA_TEST_DISABLE_SIGNAL_TXN=1 in the environment (read once per
// process) turns that wrapping off, to prove the race test can fail. Never
// set it anywhere else.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "wa/bytes.hpp"
#include "wa/result.hpp"
#include "wa/store/store.hpp"

namespace wa::signal {

using store::Address;

// WhatsApp's <enc type="..."> names. libsignal-protocol-c numbers them
// 2 (msg) and 3 (pkmsg); npm libsignal uses 1 and 3.
enum class MessageType { msg, pkmsg };
std::string_view enc_type(MessageType t) noexcept;

struct Ciphertext {
  MessageType type = MessageType::msg;
  Bytes data;
};

// A contact device's published keys (from a prekey fetch). Public keys may be
// given raw (32 bytes, as on the WhatsApp wire) or 0x05-prefixed (33).
struct PreKeyBundle {
  uint32_t registration_id = 0;
  uint32_t device_id = 0;
  std::optional<uint32_t> prekey_id;  // one-time prekey, if the server had one
  Bytes prekey_pub;
  uint32_t signed_prekey_id = 0;
  Bytes signed_prekey_pub;
  Bytes signed_prekey_signature;  // 64
  Bytes identity_key;
};

// Error codes (Error::code) worth branching on:
//   identity_changed  the contact's identity key differs from the trusted one
//   no_session        encrypt/decrypt_msg without a session (fetch a bundle)
//   duplicate_message the message key was already used (replay / re-delivery)
//   bad_mac, invalid_message, invalid_key, invalid_key_id (unknown prekey)
//   no_identity       our own identity has not been generated (keys.hpp)
//   busy, db_*        store failures
class SignalSession {
  struct Token {};

 public:
  // `store` must outlive the session. Not copyable; its methods may be
  // called from several threads (they serialise on one recursive mutex).
  static Result<std::unique_ptr<SignalSession>> create(store::Store& store);
  ~SignalSession();
  SignalSession(const SignalSession&) = delete;
  SignalSession& operator=(const SignalSession&) = delete;

  // Installs a session from a bundle only if none exists yet (two senders
  // racing to start one must not replace each other's). true = installed.
  Result<bool> process_bundle(const Address& to, const PreKeyBundle& bundle);
  // Builds a new session from a bundle even when one exists (answering a
  // retry receipt that carries the requester's keys): libsignal archives
  // the current state into the record's previous states, so messages still
  // in flight on it keep decrypting. identity_changed when the bundle's
  // identity is not the trusted one (nothing changes then).
  Status replace_session(const Address& to, const PreKeyBundle& bundle);
  Result<bool> has_session(const Address& addr);

  Result<Ciphertext> encrypt(const Address& to, ByteView plaintext);
  Result<Bytes> decrypt_pkmsg(const Address& from, ByteView message);
  Result<Bytes> decrypt_msg(const Address& from, ByteView message);

  // Explicitly trusts a changed identity key and drops the session that was
  // built on the old one (the next send needs a fresh bundle).
  Status accept_identity(const Address& addr, ByteView identity_key);

  // Group messaging with sender keys. `self` is our own address (name and
  // device) as the group's members know it.
  Result<Bytes> create_sender_key_distribution(std::string_view group, const Address& self);
  Status process_sender_key_distribution(std::string_view group, const Address& sender, ByteView distribution);
  Result<Bytes> group_encrypt(std::string_view group, const Address& self, ByteView plaintext);
  Result<Bytes> group_decrypt(std::string_view group, const Address& sender, ByteView message);

  struct Impl;
  SignalSession(Token, std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

// True when WA_TEST_DISABLE_SIGNAL_TXN=1 was set at first use (test-only).
bool signal_transactions_disabled() noexcept;

}  // namespace wa::signal
