// Rule reloads: a file that fails check is never loaded.
#include "filter/rules_reload.h"
#include "test_doubles.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace quotamilter::filter;
using quotamilter::test::CapturingLogger;

TEST_CASE("reload: a broken file keeps the rules in force and logs FILE:LINE:COL; a good one applies at once") {
    const auto path = std::filesystem::temp_directory_path() / ("qm-reload-" + std::to_string(::getpid()) + ".json");
    std::ofstream(path) << R"({ "version": 1, "policies": [] })";
    RulesLoad first = load_rules(path.string());
    REQUIRE(first.rules);
    RulesHolder holder(first.rules);
    CapturingLogger logger;

    std::ofstream(path) << "{\n  \"version\": 1,\n  \"policies\": [],\n  \"polices\": []\n}\n";
    CHECK_FALSE(reload_rules(holder, path.string(), logger));
    CHECK(holder.current() == first.rules);
    CHECK(logger.count_containing(path.string() + ":4:") >= 1);
    CHECK(logger.count_containing("the rules in force stay") == 1);

    std::ofstream(path) << R"({ "version": 1, "policies": [
        { "name": "p", "match": {}, "quotas": [ { "track": "sender", "bytes": "1MB", "window": "1h" } ] } ] })";
    CHECK(reload_rules(holder, path.string(), logger));
    REQUIRE(holder.current() != first.rules);
    CHECK(holder.current()->policies.size() == 1);
    CHECK(holder.current()->needs_body());
    CHECK(logger.count_containing("rules from " + path.string() + " in force: 1 policies, 1 quotas") == 1);
    CHECK(logger.count_containing("new connections") == 1);

    std::filesystem::remove(path);
    CHECK_FALSE(reload_rules(holder, path.string(), logger));
    CHECK(holder.current()->policies.size() == 1);
}

TEST_CASE("the global monitor switch puts every policy in monitor mode, at start and on reload") {
    const auto path = std::filesystem::temp_directory_path() / ("qm-monitor-" + std::to_string(::getpid()) + ".json");
    std::ofstream(path) << R"({ "version": 1, "policies": [
        { "name": "enforced", "match": {}, "quotas": [ { "track": "sender", "messages": 1, "window": "1h" } ] },
        { "name": "watched", "mode": "monitor", "match": {}, "quotas": [ { "track": "sender", "messages": 1, "window": "1d" } ] } ] })";
    RulesLoad as_written = load_rules(path.string());
    REQUIRE(as_written.rules);
    CHECK(as_written.rules->policies[0].mode == quotamilter::rules::Mode::enforce);

    RulesLoad switched = load_rules(path.string(), true);
    REQUIRE(switched.rules);
    for (const auto& policy : switched.rules->policies) CHECK(policy.mode == quotamilter::rules::Mode::monitor);

    RulesHolder holder(as_written.rules);
    CapturingLogger logger;
    CHECK(reload_rules(holder, path.string(), logger, nullptr, true));
    for (const auto& policy : holder.current()->policies) CHECK(policy.mode == quotamilter::rules::Mode::monitor);
    CHECK(logger.count_containing("all in monitor mode (global switch)") == 1);
    std::filesystem::remove(path);
}
