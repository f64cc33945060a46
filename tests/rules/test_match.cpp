// Every item kind, negation and group nesting, table-driven: one policy with
// the given match lists, and whether a message with the given facts matches.
#include "rules_test_util.h"

#include <doctest/doctest.h>

using namespace quotamilter::rules;
using rules_test::facts;
using rules_test::load_ok;
using rules_test::one_policy;

namespace {

struct MatchCase {
    const char* match;
    const char* sender;
    std::vector<std::string> recipients;
    std::optional<std::string> client;
    std::optional<std::string> sasl;
    bool expected;
};

bool policy_matches(const std::string& rules_text, const MessageFacts& message) {
    const RuleSet rules = load_ok(rules_text);
    const MessagePlan plan = plan_message(rules, message);
    REQUIRE(plan.trace.size() == 1);
    return plan.trace[0].matched;
}

const std::vector<MatchCase> kItemCases = {
    // exact address: case and +tag ignored, in the item and in the message
    {R"({"sender": ["user1@hudedu.net"]})", "user1@hudedu.net", {}, {}, {}, true},
    {R"({"sender": ["user1@hudedu.net"]})", "<User1+promo@HUDEDU.NET>", {}, {}, {}, true},
    {R"({"sender": ["User1+x@HUDEDU.net"]})", "user1@hudedu.net", {}, {}, {}, true},
    {R"({"sender": ["user1@hudedu.net"]})", "user10@hudedu.net", {}, {}, {}, false},
    {R"({"sender": ["user1@hudedu.net"]})", "user1@hudedu.net.evil", {}, {}, {}, false},
    // @domain: exactly that domain
    {R"({"sender": ["@hudedu.net"]})", "anyone@hudedu.net", {}, {}, {}, true},
    {R"({"sender": ["@hudedu.net"]})", "anyone@HUDEDU.NET.", {}, {}, {}, true},
    {R"({"sender": ["@hudedu.net"]})", "anyone@mail.hudedu.net", {}, {}, {}, false},
    {R"({"sender": ["@hudedu.net"]})", "anyone@xhudedu.net", {}, {}, {}, false},
    // @.domain: subdomains only
    {R"({"sender": ["@.hudedu.net"]})", "a@mail.hudedu.net", {}, {}, {}, true},
    {R"({"sender": ["@.hudedu.net"]})", "a@x.y.hudedu.net", {}, {}, {}, true},
    {R"({"sender": ["@.hudedu.net"]})", "a@hudedu.net", {}, {}, {}, false},
    {R"({"sender": ["@.hudedu.net"]})", "a@evilhudedu.net", {}, {}, {}, false},
    // <> the null sender
    {R"({"sender": ["<>"]})", "<>", {}, {}, {}, true},
    {R"({"sender": ["<>"]})", "a@b.example", {}, {}, {}, false},
    {R"({"sender": ["@hudedu.net"]})", "<>", {}, {}, {}, false},
    {R"({"sender": ["!<>"]})", "<>", {}, {}, {}, false},
    {R"({"sender": ["!<>"]})", "a@b.example", {}, {}, {}, true},
    // *: anything, including the null sender
    {R"({"sender": ["*"]})", "<>", {}, {}, {}, true},
    {R"({"sender": ["*"]})", "a@b.example", {}, {}, {}, true},
    // client addresses and networks
    {R"({"client": ["192.0.2.7"]})", "a@b.example", {}, "192.0.2.7", {}, true},
    {R"({"client": ["192.0.2.7"]})", "a@b.example", {}, "192.0.2.8", {}, false},
    {R"({"client": ["192.0.2.0/24"]})", "a@b.example", {}, "192.0.2.200", {}, true},
    {R"({"client": ["192.0.2.0/24"]})", "a@b.example", {}, "192.0.3.1", {}, false},
    {R"({"client": ["192.0.2.0/24"]})", "a@b.example", {}, "::ffff:192.0.2.9", {}, true},
    {R"({"client": ["0.0.0.0/0"]})", "a@b.example", {}, "203.0.113.5", {}, true},
    {R"({"client": ["0.0.0.0/0"]})", "a@b.example", {}, "2001:db8::1", {}, false},
    {R"({"client": ["2001:db8::/32"]})", "a@b.example", {}, "2001:DB8:1::5", {}, true},
    {R"({"client": ["2001:db8::/32"]})", "a@b.example", {}, "2001:db9::1", {}, false},
    {R"({"client": ["2001:db8::1"]})", "a@b.example", {}, "2001:db8:0:0::1", {}, true},
    {R"({"client": ["192.0.2.0/24"]})", "a@b.example", {}, {}, {}, false},            // unknown client
    {R"({"client": ["!192.0.2.0/24"]})", "a@b.example", {}, {}, {}, true},
    {R"({"client": ["10.0.0.0/8", "!10.1.0.0/16"]})", "a@b.example", {}, "10.2.3.4", {}, true},
    {R"({"client": ["10.0.0.0/8", "!10.1.0.0/16"]})", "a@b.example", {}, "10.1.3.4", {}, false},
    // sasl
    {R"({"sasl": ["*"]})", "a@b.example", {}, {}, "alice", true},
    {R"({"sasl": ["*"]})", "a@b.example", {}, {}, {}, false},
    {R"({"sasl": ["!*"]})", "a@b.example", {}, {}, {}, true},
    {R"({"sasl": ["!*"]})", "a@b.example", {}, {}, "alice", false},
    {R"({"sasl": ["Alice"]})", "a@b.example", {}, {}, "alice", true},
    {R"({"sasl": ["alice"]})", "a@b.example", {}, {}, "ALICE", true},
    {R"({"sasl": ["alice"]})", "a@b.example", {}, {}, "bob", false},
    {R"({"sasl": ["alice@hudedu.net"]})", "a@b.example", {}, {}, "Alice@HUDEDU.net", true},
    {R"({"sasl": ["@hudedu.net"]})", "a@b.example", {}, {}, "bob@hudedu.net", true},
    {R"({"sasl": ["@hudedu.net"]})", "a@b.example", {}, {}, "bob", false},
    // recipients: at least one must match
    {R"({"recipient": ["@ext.example"]})", "a@b.example", {"x@hudedu.net", "y@ext.example"}, {}, {}, true},
    {R"({"recipient": ["@ext.example"]})", "a@b.example", {"x@hudedu.net"}, {}, {}, false},
    {R"({"recipient": ["@ext.example"]})", "a@b.example", {}, {}, {}, false},
    {R"({"recipient": ["!@hudedu.net"]})", "a@b.example", {"x@hudedu.net", "y@ext.example"}, {}, {}, true},
    {R"({"recipient": ["!@hudedu.net"]})", "a@b.example", {"x@hudedu.net", "z@HUDEDU.NET"}, {}, {}, false},
    // empty list: no negated item, no positive item -> matches
    {R"({"sender": []})", "a@b.example", {}, {}, {}, true},
    // several lists: all must hold
    {R"({"sender": ["@hudedu.net"], "client": ["192.0.2.0/24"]})", "a@hudedu.net", {}, "192.0.2.1", {}, true},
    {R"({"sender": ["@hudedu.net"], "client": ["192.0.2.0/24"]})", "a@hudedu.net", {}, "198.51.100.1", {}, false},
    {R"({"sender": ["@hudedu.net"], "sasl": ["*"]})", "a@hudedu.net", {}, {}, {}, false},
    // negation beats a positive match
    {R"({"sender": ["@hudedu.net", "!boss@hudedu.net"]})", "boss+x@hudedu.net", {}, {}, {}, false},
    {R"({"sender": ["@hudedu.net", "!boss@hudedu.net"]})", "staff@hudedu.net", {}, {}, {}, true},
    {R"({"sender": ["!boss@hudedu.net"]})", "anyone@else.example", {}, {}, {}, true},
    // no match object: everything
    {R"({})", "<>", {}, {}, {}, true},
};

}  // namespace

TEST_CASE("items: every kind, with negation") {
    for (const MatchCase& c : kItemCases) {
        CAPTURE(c.match);
        CAPTURE(c.sender);
        CHECK(policy_matches(one_policy(c.match), facts(c.sender, c.recipients, c.client, c.sasl)) == c.expected);
    }
}

TEST_CASE("groups: nesting, negated groups, mixed kinds") {
    const std::string groups = R"({
        "staff": ["@hudedu.net", "%partners"],
        "partners": ["@partner.example", "%vip"],
        "vip": ["ceo@bigcorp.example"],
        "offices": ["192.0.2.0/24", "2001:db8:1::/48"],
        "trusted": ["%offices", "198.51.100.7"]
    })";
    struct GroupCase {
        const char* match;
        const char* sender;
        std::optional<std::string> client;
        bool expected;
    };
    const GroupCase cases[] = {
        {R"({"sender": ["%staff"]})", "a@hudedu.net", {}, true},
        {R"({"sender": ["%staff"]})", "b@partner.example", {}, true},
        {R"({"sender": ["%staff"]})", "CEO+x@bigcorp.example", {}, true},      // three levels deep
        {R"({"sender": ["%staff"]})", "other@bigcorp.example", {}, false},
        {R"({"sender": ["!%staff"]})", "ceo@bigcorp.example", {}, false},
        {R"({"sender": ["!%staff"]})", "x@elsewhere.example", {}, true},
        {R"({"sender": ["%staff", "!%vip"]})", "ceo@bigcorp.example", {}, false},
        {R"({"sender": ["%staff", "!%vip"]})", "a@hudedu.net", {}, true},
        {R"({"client": ["%trusted"]})", "a@b.example", "192.0.2.44", true},
        {R"({"client": ["%trusted"]})", "a@b.example", "2001:db8:1:2::3", true},
        {R"({"client": ["%trusted"]})", "a@b.example", "198.51.100.7", true},
        {R"({"client": ["%trusted"]})", "a@b.example", "198.51.100.8", false},
        {R"({"client": ["!%trusted"]})", "a@b.example", "198.51.100.8", true},
    };
    for (const GroupCase& c : cases) {
        CAPTURE(c.match);
        CAPTURE(c.sender);
        CHECK(policy_matches(one_policy(c.match, groups), facts(c.sender, {}, c.client)) == c.expected);
    }
}

TEST_CASE("trace reasons name the item that decided") {
    const RuleSet rules = load_ok(one_policy(R"({"sender": ["%staff", "!boss@hudedu.net"]})", R"({"staff": ["@hudedu.net"]})"));
    auto plan = plan_message(rules, facts("a@hudedu.net"));
    REQUIRE(plan.trace.size() == 1);
    CHECK(plan.trace[0].reason.find("matched %staff") != std::string::npos);
    plan = plan_message(rules, facts("Boss@hudedu.net"));
    CHECK(plan.trace[0].reason.find("excluded by !boss@hudedu.net") != std::string::npos);
    plan = plan_message(rules, facts("x@other.example"));
    CHECK(plan.trace[0].reason.find("is not in") != std::string::npos);
}

TEST_CASE("many items compile into fast lookups (smoke test of scale)") {
    std::string senders, nets;
    for (int i = 0; i < 5000; ++i) {
        if (i) { senders += ","; nets += ","; }
        senders += "\"user" + std::to_string(i) + "@bulk.example\"";
        nets += "\"10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24\"";
    }
    const RuleSet rules = load_ok(one_policy("{\"sender\": [" + senders + "], \"client\": [" + nets + "]}"));
    CHECK(plan_message(rules, facts("user4999@bulk.example", {}, "10.19.135.77")).trace[0].matched);
    CHECK_FALSE(plan_message(rules, facts("user5000@bulk.example", {}, "10.19.135.77")).trace[0].matched);
    CHECK_FALSE(plan_message(rules, facts("user4999@bulk.example", {}, "10.20.135.77")).trace[0].matched);
}
