// Group messaging with sender keys (WhatsApp "skmsg"): our own sender key is
// created once per group and handed to members in a distribution message
// inside a pairwise-encrypted message; members' keys arrive the same way.
#include <group_cipher.h>
#include <group_session_builder.h>
#include <protocol.h>

#include "session_impl.hpp"

namespace wa::signal {
namespace {

using detail::Buffer;
using detail::out;
using detail::Ref;

struct GroupBuilderFree {
  void operator()(group_session_builder* b) const noexcept { group_session_builder_free(b); }
};
using GroupBuilder = std::unique_ptr<group_session_builder, GroupBuilderFree>;
struct GroupCipherFree {
  void operator()(group_cipher* c) const noexcept { group_cipher_free(c); }
};
using GroupCipher = std::unique_ptr<group_cipher, GroupCipherFree>;

// Points into `group` and `sender`: valid while they are.
Result<signal_protocol_sender_key_name> sender_key_name(std::string_view group, const Address& sender) {
  if (group.empty()) return fail("invalid_argument", "empty group id");
  auto sa = to_signal_address(sender);
  if (!sa) return Unexpected<Error>{sa.error()};
  return signal_protocol_sender_key_name{group.data(), group.size(), *sa};
}

Result<GroupBuilder> make_builder(SignalSession::Impl& im) {
  GroupBuilder builder;
  int rc = group_session_builder_create(out(builder), im.bridge->raw(), im.ctx->raw());
  if (rc != SG_SUCCESS) return im.failure(rc, "group_session_builder_create");
  return builder;
}

Result<GroupCipher> make_group_cipher(SignalSession::Impl& im, const signal_protocol_sender_key_name& name) {
  GroupCipher cipher;
  int rc = group_cipher_create(out(cipher), im.bridge->raw(), &name, im.ctx->raw());
  if (rc != SG_SUCCESS) return im.failure(rc, "group_cipher_create");
  return cipher;
}

}  // namespace

Result<Bytes> SignalSession::create_sender_key_distribution(std::string_view group, const Address& self) {
  auto name = sender_key_name(group, self);
  if (!name) return Unexpected<Error>{name.error()};
  // full: once distributed, members hold this key; losing it would make us
  // start a new chain they do not have.
  return impl_->run<Bytes>(store::Durability::full, [&]() -> Result<Bytes> {
    auto& im = *impl_;
    auto builder = make_builder(im);
    if (!builder) return Unexpected<Error>{builder.error()};
    Ref<sender_key_distribution_message> skdm;
    // Creates our sender key for the group if absent, else describes the current one.
    int rc = group_session_builder_create_session(builder->get(), out(skdm), &*name);
    if (rc != SG_SUCCESS) return im.failure(rc, "create sender key");
    auto* base = reinterpret_cast<ciphertext_message*>(skdm.get());
    return detail::to_bytes(ciphertext_message_get_serialized(base));
  });
}

Status SignalSession::process_sender_key_distribution(std::string_view group, const Address& sender,
                                                      ByteView distribution) {
  auto name = sender_key_name(group, sender);
  if (!name) return Unexpected<Error>{name.error()};
  auto r = impl_->run<Unit>(store::Durability::normal, [&]() -> Result<Unit> {
    auto& im = *impl_;
    if (distribution.empty()) return fail("invalid_message", "empty sender key distribution");
    Ref<sender_key_distribution_message> skdm;
    int rc =
        sender_key_distribution_message_deserialize(out(skdm), distribution.data(), distribution.size(), im.ctx->raw());
    if (rc != SG_SUCCESS) return im.failure(rc, "parse sender key distribution");
    auto builder = make_builder(im);
    if (!builder) return Unexpected<Error>{builder.error()};
    rc = group_session_builder_process_session(builder->get(), &*name, skdm.get());
    if (rc != SG_SUCCESS) return im.failure(rc, "process sender key distribution");
    return Unit{};
  });
  if (!r) return Unexpected<Error>{r.error()};
  return {};
}

Result<Bytes> SignalSession::group_encrypt(std::string_view group, const Address& self, ByteView plaintext) {
  auto name = sender_key_name(group, self);
  if (!name) return Unexpected<Error>{name.error()};
  // full, for the same key-reuse reason as pairwise encrypt.
  return impl_->run<Bytes>(store::Durability::full, [&]() -> Result<Bytes> {
    auto& im = *impl_;
    auto cipher = make_group_cipher(im, *name);
    if (!cipher) return Unexpected<Error>{cipher.error()};
    Ref<ciphertext_message> msg;
    static const uint8_t empty = 0;
    int rc =
        group_cipher_encrypt(cipher->get(), plaintext.empty() ? &empty : plaintext.data(), plaintext.size(), out(msg));
    if (rc != SG_SUCCESS) return im.failure(rc, "group encrypt");
    return detail::to_bytes(ciphertext_message_get_serialized(msg.get()));
  });
}

Result<Bytes> SignalSession::group_decrypt(std::string_view group, const Address& sender, ByteView message) {
  auto name = sender_key_name(group, sender);
  if (!name) return Unexpected<Error>{name.error()};
  return impl_->run<Bytes>(store::Durability::normal, [&]() -> Result<Bytes> {
    auto& im = *impl_;
    if (message.empty()) return fail("invalid_message", "empty skmsg");
    Ref<sender_key_message> msg;
    int rc = sender_key_message_deserialize(out(msg), message.data(), message.size(), im.ctx->raw());
    if (rc != SG_SUCCESS) return im.failure(rc, "parse skmsg");
    auto cipher = make_group_cipher(im, *name);
    if (!cipher) return Unexpected<Error>{cipher.error()};
    Buffer plain;
    rc = group_cipher_decrypt(cipher->get(), msg.get(), nullptr, out(plain));
    if (rc != SG_SUCCESS) return im.failure(rc, "group decrypt");
    return detail::to_bytes(plain.get());
  });
}

}  // namespace wa::signal
