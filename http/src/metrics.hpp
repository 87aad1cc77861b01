// /metrics: the supervisor's `metrics` result (and the webhooks' cursors
// from `webhook_list`, when that command exists) in the Prometheus text
// format. Pure, so a unit test pins the output; fields that are missing or
// mistyped are skipped, never fatal.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace wa::http {

// `webhooks`: the webhook_list result, or null.
std::string render_metrics(const nlohmann::json& metrics, const nlohmann::json& webhooks);
std::string prom_label_value(std::string_view v);

}  // namespace wa::http
