#include "close_policy.hpp"

#include <array>

namespace wa::connection {

const char* to_string(CloseAction a) {
  switch (a) {
    case CloseAction::reconnect_now: return "reconnect_now";
    case CloseAction::reconnect_backoff: return "reconnect_backoff";
    case CloseAction::logged_out: return "logged_out";
    case CloseAction::replaced: return "replaced";
    case CloseAction::client_outdated: return "client_outdated";
  }
  return "unknown";
}

CloseDecision classify_stream_error(const binary::Node& node) {
  std::string code(node.attr_or("code", ""));
  const binary::Node* conflict = node.child("conflict");
  std::string conflict_type = conflict ? std::string(conflict->attr_or("type", "")) : "";
  if (conflict_type == "device_removed") return {CloseAction::logged_out, "device_removed"};
  if (conflict_type == "replaced" || (conflict && code.empty())) return {CloseAction::replaced, "replaced"};
  if (code == "401") return {CloseAction::logged_out, "stream_error_401"};
  if (code == "515") return {CloseAction::reconnect_now, "restart_required"};
  if (code == "405") return {CloseAction::client_outdated, "stream_error_405"};
  if (code == "503") return {CloseAction::reconnect_backoff, "service_unavailable"};
  if (code.empty()) return {CloseAction::reconnect_backoff, "stream_error"};
  return {CloseAction::reconnect_backoff, "stream_error_" + code};
}

CloseDecision classify_failure(const binary::Node& node) {
  std::string reason(node.attr_or("reason", ""));
  // 401 logged out, 403 main device gone/locked, 406 banned/unknown logout:
  // the credentials will never log in again (whatsmeow's reading).
  if (reason == "401" || reason == "403" || reason == "406") return {CloseAction::logged_out, "failure_" + reason};
  if (reason == "405") return {CloseAction::client_outdated, "failure_405"};
  if (reason.empty()) return {CloseAction::reconnect_backoff, "failure"};
  return {CloseAction::reconnect_backoff, "failure_" + reason};
}

Backoff::Backoff(uint64_t scale_ms) : scale_ms_(scale_ms), rng_(std::random_device{}()) {}

uint64_t Backoff::next_ms() {
  static constexpr std::array<uint64_t, 5> kSteps = {1, 2, 5, 10, 20};
  uint64_t base = kSteps[attempt_ < kSteps.size() ? attempt_ : kSteps.size() - 1] * scale_ms_;
  ++attempt_;
  uint64_t spread = base / 5;  // +-20 %
  uint64_t low = base - spread;
  return low + (spread > 0 ? rng_() % (2 * spread + 1) : 0);
}

}  // namespace wa::connection
