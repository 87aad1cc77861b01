// The send jobs of the plain content kinds: a location, contact cards and a
// revoke. Each builds its Message (wa/message/content.hpp) and sends it
// like a text: one send_built, answered on the server's ack.
#include "job.hpp"

#include "wa/message/content.hpp"

namespace wa::sender {

namespace {

std::string text_field(const json& payload, const char* key) {
  auto it = payload.find(key);
  return it != payload.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The reply context of a content kind that quotes (nullopt: not a reply).
Result<std::optional<proto::ContextInfo>> quote_of(store::Store& st, const binary::Jid& to, const json& payload) {
  if (!payload.contains("quoted_id")) return std::optional<proto::ContextInfo>{};
  proto::ContextInfo ci;
  WA_TRY(add_quote(st, to, payload, ci));
  return std::optional<proto::ContextInfo>{std::move(ci)};
}

}  // namespace

json run_location_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query,
                      const std::string& conversation, uint64_t job, const json& payload) {
  if (!payload.is_object()) return failed_done(job, Error{"bad_request", "job payload is not an object"});
  auto to = job_recipient(conversation, payload);
  if (!to) return failed_done(job, to.error());
  const auto lat = payload.find("latitude");
  const auto lng = payload.find("longitude");
  if (lat == payload.end() || lng == payload.end() || !lat->is_number() || !lng->is_number())
    return failed_done(job, Error{"bad_request", "a location needs a latitude and a longitude"});
  message::Location loc;
  loc.latitude = lat->get<double>();
  loc.longitude = lng->get<double>();
  loc.name = text_field(payload, "name");
  loc.address = text_field(payload, "address");
  loc.url = text_field(payload, "url");
  auto ci = quote_of(st, *to, payload);
  if (!ci) return failed_done(job, ci.error());
  auto bytes = message::build_location(loc, *ci ? &**ci : nullptr);
  if (!bytes) return failed_done(job, bytes.error());
  return send_built(st, sig, query, job, *to, std::move(*bytes), nullptr);
}

json run_contact_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query,
                     const std::string& conversation, uint64_t job, const json& payload) {
  if (!payload.is_object()) return failed_done(job, Error{"bad_request", "job payload is not an object"});
  auto to = job_recipient(conversation, payload);
  if (!to) return failed_done(job, to.error());
  message::ContactCard card;
  card.name = text_field(payload, "name");
  card.vcard = text_field(payload, "vcard");
  if (card.vcard.empty()) {
    auto v = message::make_vcard(card.name, text_field(payload, "phone"));
    if (!v) return failed_done(job, v.error());
    card.vcard = std::move(*v);
  } else if (!card.vcard.starts_with("BEGIN:VCARD")) {
    return failed_done(job, Error{"bad_request", "a vcard starts with BEGIN:VCARD"});
  }
  auto ci = quote_of(st, *to, payload);
  if (!ci) return failed_done(job, ci.error());
  auto bytes = message::build_contacts(std::span(&card, 1), *ci ? &**ci : nullptr);
  if (!bytes) return failed_done(job, bytes.error());
  return send_built(st, sig, query, job, *to, std::move(*bytes), nullptr);
}

json run_revoke_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query,
                    const std::string& conversation, uint64_t job, const json& payload) {
  if (!payload.is_object()) return failed_done(job, Error{"bad_request", "job payload is not an object"});
  auto to = job_recipient(conversation, payload);
  if (!to) return failed_done(job, to.error());
  auto target = job_target(st, *to, payload, "deleting");
  if (!target) return failed_done(job, target.error());
  // In a 1:1 chat only the author deletes for everyone; a group admin may
  // delete anyone's (the receivers check that we are admin).
  if (!target->from_me && !to->is_group())
    return failed_done(job, Error{"not_own_message",
                                  "only our own messages can be deleted for everyone in a 1:1 chat (not found "
                                  "among the messages we sent: give `sender` as our own JID if it is ours)"});
  auto bytes = message::build_revoke(*target);
  if (!bytes) return failed_done(job, bytes.error());
  return send_built(st, sig, query, job, *to, std::move(*bytes), nullptr);
}

}  // namespace wa::sender
