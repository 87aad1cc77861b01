#include <doctest/doctest.h>

#include <string>

#include "wa/profile.hpp"

TEST_CASE("profile names that become paths are validated") {
  CHECK(wa::validate_profile_name("sales").has_value());
  CHECK(wa::validate_profile_name("a.b-c_9").has_value());
  CHECK_FALSE(wa::validate_profile_name("").has_value());
  CHECK_FALSE(wa::validate_profile_name("..").has_value());
  CHECK_FALSE(wa::validate_profile_name("../x").has_value());
  CHECK_FALSE(wa::validate_profile_name(".hidden").has_value());
  CHECK_FALSE(wa::validate_profile_name("a/b").has_value());
  CHECK_FALSE(wa::validate_profile_name("a b").has_value());
  CHECK_FALSE(wa::validate_profile_name(std::string(33, 'a')).has_value());
  CHECK(wa::validate_profile_name(std::string(32, 'a')).has_value());
  CHECK(wa::validate_profile_name("../x").error().code == "invalid_profile");
}
