// rules/schema.json stays in sync with the loader: at every level, the
// schema's properties are exactly the keys the loader accepts, and every
// example file validates (structurally) against what the schema allows.
#include "rules/keys.h"
#include "rules_test_util.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <string>

namespace {

nlohmann::json read_schema() {
    std::ifstream in(QM_SOURCE_DIR "/rules/schema.json");
    REQUIRE(in.good());
    return nlohmann::json::parse(in);
}

template <typename Keys>
std::set<std::string> as_set(const Keys& keys) {
    return {keys.begin(), keys.end()};
}

std::set<std::string> property_names(const nlohmann::json& object) {
    std::set<std::string> names;
    for (const auto& [key, value] : object.at("properties").items()) names.insert(key);
    return names;
}

}  // namespace

TEST_CASE("schema: properties at each level equal the keys the loader accepts") {
    const nlohmann::json schema = read_schema();
    namespace keys = quotamilter::rules::keys;
    CHECK(property_names(schema) == as_set(keys::top_level));
    CHECK(property_names(schema.at("$defs").at("defaults")) == as_set(keys::defaults));
    CHECK(property_names(schema.at("$defs").at("policy")) == as_set(keys::policy));
    CHECK(property_names(schema.at("$defs").at("match")) == as_set(keys::match));
    CHECK(property_names(schema.at("$defs").at("quota")) == as_set(keys::quota));
    CHECK(property_names(schema.at("$defs").at("header_condition")) == as_set(keys::header_condition));
    // every object level forbids unknown keys, like the loader
    CHECK(schema.at("additionalProperties") == false);
    for (const char* level : {"defaults", "policy", "match", "quota", "header_condition"}) {
        CAPTURE(level);
        CHECK(schema.at("$defs").at(level).at("additionalProperties") == false);
    }
}

TEST_CASE("schema: enumerations agree with the loader") {
    const nlohmann::json schema = read_schema();
    // Each track the schema lists loads; a made-up one does not.
    for (const auto& track : schema.at("$defs").at("quota").at("properties").at("track").at("anyOf").at(0).at("enum")) {
        CAPTURE(track.get<std::string>());
        rules_test::load_ok(R"({"version": 1, "policies": [{"name": "p", "quotas": [{"track": ")" + track.get<std::string>() +
                            R"(", "messages": 1, "window": 60}]}]})");
    }
    for (const auto& verdict : schema.at("$defs").at("verdict").at("enum")) {
        CAPTURE(verdict.get<std::string>());
        rules_test::load_ok(R"({"version": 1, "policies": [{"name": "p", "quotas": [{"track": "sender", "verdict": ")" +
                            verdict.get<std::string>() + R"(", "messages": 1, "window": 60}]}]})");
    }
    CHECK(schema.at("$defs").at("quota").at("properties").at("track").at("anyOf").at(0).at("enum").size() == 8);
    CHECK(schema.at("$defs").at("verdict").at("enum").size() == 4);
    // Every content-rule verdict loads on a policy.
    for (const auto& verdict : schema.at("$defs").at("policy_verdict").at("enum")) {
        CAPTURE(verdict.get<std::string>());
        rules_test::load_ok(R"({"version": 1, "policies": [{"name": "p", "verdict": ")" + verdict.get<std::string>() +
                            R"(", "match": {"header": [{"name": "Subject", "regex": "x"}]}}]})");
    }
    CHECK(schema.at("$defs").at("policy_verdict").at("enum").size() == 5);
    CHECK(schema.at("$defs").at("reply").at("maxLength") == 900);
    CHECK(schema.at("$defs").at("window").at("oneOf").at(0).at("maximum") == 31 * 86400);
}
