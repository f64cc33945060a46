// Helpers for the rules tests: load rule text or fail the test with the diagnostics.
#pragma once

#include "rules/evaluate.h"
#include "rules/load.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace rules_test {

inline quotamilter::rules::RuleSet load_ok(const std::string& text) {
    auto result = quotamilter::rules::load_rules_text(text, "test.json");
    if (auto* errors = std::get_if<std::vector<quotamilter::rules::Diagnostic>>(&result)) {
        for (const auto& error : *errors) INFO(error.str());
        std::string all;
        for (const auto& error : *errors) all += error.str() + "\n";
        FAIL("rules did not load:\n" << all);
    }
    return std::get<quotamilter::rules::RuleSet>(std::move(result));
}

// Every diagnostic as "LINE:COL: message" (the file name is always test.json).
inline std::vector<std::string> load_errors(const std::string& text) {
    auto result = quotamilter::rules::load_rules_text(text, "test.json");
    std::vector<std::string> out;
    if (auto* errors = std::get_if<std::vector<quotamilter::rules::Diagnostic>>(&result)) {
        for (const auto& error : *errors) {
            out.push_back(std::to_string(error.line) + ":" + std::to_string(error.column) + ": " + error.message);
        }
    }
    return out;
}

inline quotamilter::rules::MessageFacts facts(const std::string& sender, const std::vector<std::string>& recipients = {},
                                              std::optional<std::string> client = std::nullopt,
                                              std::optional<std::string> sasl = std::nullopt, std::uint64_t size = 0) {
    quotamilter::rules::MessageFacts f;
    f.sender = quotamilter::rules::normalize_address(sender);
    for (const auto& r : recipients) f.recipients.push_back(quotamilter::rules::normalize_address(r));
    f.client_ip = std::move(client);
    f.sasl_user = std::move(sasl);
    f.size = size;
    return f;
}

// A one-policy rule file whose policy has the given match object and one
// sender/messages quota; for table-driven item tests.
inline std::string one_policy(const std::string& match_json, const std::string& groups_json = "{}") {
    return R"({"version": 1, "groups": )" + groups_json + R"(, "policies": [ {"name": "p", "match": )" + match_json +
           R"(, "quotas": [ {"track": "sender", "messages": 10, "window": "1h"} ] } ] })";
}

}  // namespace rules_test
