// The HTTP face of the registries (wa-http): which HTTP status an error code
// answers with, the routes every command gets, and the OpenAPI document.
// Written here, next to the command and error registries, so the mapping is
// one table and a unit test checks the document against the registry.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "wa/contract/commands.hpp"

namespace wa::contract {

// The status of an error envelope with this code (unknown codes: 500).
int http_status(std::string_view code);

std::string_view access_name(Access a);

// A command's routes: "/v1/profiles/{profile}/NAME" when it has a profile
// field, "/v1/NAME" when it has none or an optional one.
bool has_profile_route(const CommandSpec& c);
bool has_global_route(const CommandSpec& c);
// Read commands are also GET with their fields as query parameters.
inline bool has_get(const CommandSpec& c) { return c.access == Access::read; }

// OpenAPI 3.1 for wa-http, generated from the command and error registries.
nlohmann::json openapi();

}  // namespace wa::contract
