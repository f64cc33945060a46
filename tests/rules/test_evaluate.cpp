// Evaluation: priority then file order, exempt (whole message and per
// recipient), tracked values and costs for every track, plan_at_mail.
#include "rules_test_util.h"

#include "rules/explain.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

using namespace quotamilter::rules;
using rules_test::facts;
using rules_test::load_ok;

namespace {

// "policy/track/unit/window=value:cost" for each applicable quota, in order.
std::vector<std::string> summary(const MessagePlan& plan) {
    std::vector<std::string> out;
    for (const ApplicableQuota& q : plan.quotas) {
        out.push_back(counter_identity(*q.policy, *q.quota) + "=" + q.tracked_value + ":" + std::to_string(q.cost));
    }
    return out;
}

std::vector<std::string> matched_names(const MessagePlan& plan) {
    std::vector<std::string> out;
    for (const PolicyTrace& t : plan.trace) {
        if (t.matched) out.push_back(t.policy->name);
    }
    return out;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

TEST_CASE("order: priority, then file order") {
    const RuleSet rules = load_ok(R"({"version": 1, "policies": [
        {"name": "c", "priority": 100, "quotas": [{"track": "policy", "messages": 1, "window": 60}]},
        {"name": "a", "priority": 5,   "quotas": [{"track": "policy", "messages": 1, "window": 60}]},
        {"name": "d", "quotas": [{"track": "policy", "messages": 1, "window": 60}]},
        {"name": "b", "priority": 5,   "quotas": [{"track": "policy", "messages": 1, "window": 60}]}
    ]})");
    std::vector<std::string> names;
    for (const Policy& p : rules.policies) names.push_back(p.name);
    CHECK(names == std::vector<std::string>{"a", "b", "c", "d"});
    CHECK(matched_names(plan_message(rules, facts("x@y.example"))) == names);
    CHECK(summary(plan_message(rules, facts("x@y.example"))) ==
          std::vector<std::string>{"a/policy/messages/60s=a:1", "b/policy/messages/60s=b:1", "c/policy/messages/60s=c:1",
                                   "d/policy/messages/60s=d:1"});
}

TEST_CASE("exempt without recipient list stops everything after it, not before") {
    const RuleSet rules = load_ok(R"({"version": 1, "policies": [
        {"name": "before", "priority": 1, "quotas": [{"track": "sender", "messages": 5, "window": "1h"}]},
        {"name": "vip", "priority": 2, "match": {"sender": ["vip@x.example"]}, "exempt": true},
        {"name": "after", "priority": 3, "quotas": [{"track": "sender", "messages": 5, "window": "1h"}]}
    ]})");
    auto plan = plan_message(rules, facts("VIP+a@x.example", {"r@y.example"}));
    REQUIRE(plan.stopped_by != nullptr);
    CHECK(plan.stopped_by->name == "vip");
    CHECK(summary(plan) == std::vector<std::string>{"before/sender/messages/3600s=vip@x.example:1"});
    CHECK(matched_names(plan) == std::vector<std::string>{"before", "vip"});
    CHECK(plan.trace.size() == 3);
    CHECK(plan.trace[2].reason.find("vip") != std::string::npos);

    plan = plan_message(rules, facts("other@x.example", {"r@y.example"}));
    CHECK(plan.stopped_by == nullptr);
    CHECK(summary(plan).size() == 2);
}

TEST_CASE("exempt with recipient list stops only for the recipients it matched") {
    const RuleSet rules = load_ok(R"({"version": 1, "policies": [
        {"name": "to_partner_free", "priority": 1, "match": {"recipient": ["@partner.example"]}, "exempt": true},
        {"name": "per_rcpt", "priority": 2, "quotas": [
            {"track": "sender", "recipients": 100, "window": "1d"},
            {"track": "recipient_domain", "messages": 10, "window": "1h"}]}
    ]})");
    auto plan = plan_message(rules, facts("a@b.example", {"x@partner.example", "y@other.example", "z@Other.example"}));
    CHECK(plan.stopped_by == nullptr);
    CHECK(summary(plan) == std::vector<std::string>{"per_rcpt/sender/recipients/86400s=a@b.example:2",
                                                    "per_rcpt/recipient_domain/messages/3600s=other.example:1"});
    // every recipient exempted: evaluation stops
    plan = plan_message(rules, facts("a@b.example", {"x@partner.example", "y@PARTNER.example"}));
    REQUIRE(plan.stopped_by != nullptr);
    CHECK(plan.stopped_by->name == "to_partner_free");
    CHECK(plan.quotas.empty());
}

TEST_CASE("tracked values and costs for every track") {
    const RuleSet rules = load_ok(R"({"version": 1, "policies": [
        {"name": "all", "quotas": [
            {"track": "sender", "messages": 9, "window": "1h"},
            {"track": "sender_domain", "recipients": 9, "window": "1h"},
            {"track": "sasl_user", "bytes": "1MB", "window": "1h"},
            {"track": "client_ip", "messages": 9, "window": "1h"},
            {"track": "client_net", "messages": 9, "window": "1h"},
            {"track": "client_net", "prefix_v4": 16, "prefix_v6": 48, "messages": 9, "window": "2h"},
            {"track": "recipient", "recipients": 9, "window": "1h"},
            {"track": "recipient_domain", "recipients": 9, "window": "1h"},
            {"track": "policy", "bytes": 1000, "window": "1h"}
        ]}
    ]})");
    auto plan = plan_message(rules, facts("<User+x@Example.COM>", {"a@r.example", "A+1@R.example", "b@s.example"},
                                          "192.0.2.77", "Alice", 1234));
    CHECK(summary(plan) == std::vector<std::string>{
                               "all/sender/messages/3600s=user@example.com:1",
                               "all/sender_domain/recipients/3600s=example.com:3",
                               "all/sasl_user/bytes/3600s=alice:1234",
                               "all/client_ip/messages/3600s=192.0.2.77:1",
                               "all/client_net/messages/3600s=192.0.2.0/24:1",
                               "all/client_net/messages/7200s=192.0.0.0/16:1",
                               "all/recipient/recipients/3600s=a@r.example:2",
                               "all/recipient/recipients/3600s=b@s.example:1",
                               "all/recipient_domain/recipients/3600s=r.example:2",
                               "all/recipient_domain/recipients/3600s=s.example:1",
                               "all/policy/bytes/3600s=all:1234",
                           });

    // IPv6 client, null sender, unauthenticated: absent values do not apply
    plan = plan_message(rules, facts("<>", {"a@r.example"}, "2001:DB8:AAAA:BBBB:1::2"));
    CHECK(summary(plan) == std::vector<std::string>{
                               "all/sender/messages/3600s=<>:1",
                               "all/client_ip/messages/3600s=2001:db8:aaaa:bbbb:1::2:1",
                               "all/client_net/messages/3600s=2001:db8:aaaa:bbbb::/64:1",
                               "all/client_net/messages/7200s=2001:db8:aaaa::/48:1",
                               "all/recipient/recipients/3600s=a@r.example:1",
                               "all/recipient_domain/recipients/3600s=r.example:1",
                               "all/policy/bytes/3600s=all:0",
                           });

    // IPv4-mapped IPv6 is the IPv4 client; an unparsable client is unknown
    plan = plan_message(rules, facts("a@b.example", {}, "::ffff:192.0.2.77"));
    const auto mapped = summary(plan);
    CHECK(std::count(mapped.begin(), mapped.end(), "all/client_ip/messages/3600s=192.0.2.77:1") == 1);
    plan = plan_message(rules, facts("a@b.example", {}, "not-an-ip"));
    for (const auto& line : summary(plan)) CHECK(line.find("client_") == std::string::npos);
}

TEST_CASE("recipients cost counts only the recipients the policy matched") {
    const RuleSet rules = load_ok(R"({"version": 1, "groups": {"internal": ["@hudedu.net"]}, "policies": [
        {"name": "out", "match": {"sender": ["%internal"], "recipient": ["!%internal"]}, "quotas": [
            {"track": "sender", "recipients": 2000, "window": "1d"},
            {"track": "sender", "messages": 200, "window": "1h"}]}
    ]})");
    auto plan = plan_message(rules, facts("u@hudedu.net", {"a@hudedu.net", "b@gmail.example", "c@yahoo.example"}));
    CHECK(summary(plan) == std::vector<std::string>{"out/sender/recipients/86400s=u@hudedu.net:2",
                                                    "out/sender/messages/3600s=u@hudedu.net:1"});
    plan = plan_message(rules, facts("u@hudedu.net", {"a@hudedu.net"}));
    CHECK(plan.quotas.empty());
    CHECK_FALSE(plan.trace[0].matched);
}

TEST_CASE("plan_at_mail: only messages/bytes quotas that cannot depend on recipients") {
    const RuleSet rules = load_ok(R"({"version": 1, "policies": [
        {"name": "global", "priority": 1, "quotas": [
            {"track": "sender", "messages": 10, "window": "1h"},
            {"track": "sender", "recipients": 10, "window": "1h"},
            {"track": "sender", "bytes": "10MB", "window": "1h"},
            {"track": "recipient", "messages": 10, "window": "1h"},
            {"track": "recipient_domain", "messages": 10, "window": "1h"}]},
        {"name": "outbound", "priority": 2, "match": {"recipient": ["!@hudedu.net"]}, "quotas": [
            {"track": "sender", "messages": 10, "window": "1h"}]},
        {"name": "later", "priority": 3, "quotas": [{"track": "sasl_user", "messages": 10, "window": "1h"}]}
    ]})");
    auto plan = plan_at_mail(rules, facts("a@b.example", {}, {}, "alice", 5000));
    CHECK(summary(plan) == std::vector<std::string>{"global/sender/messages/3600s=a@b.example:1",
                                                    "global/sender/bytes/3600s=a@b.example:5000",
                                                    "later/sasl_user/messages/3600s=alice:1"});
    CHECK(plan.trace.size() == 3);
    CHECK_FALSE(plan.trace[1].matched);
    CHECK(plan.trace[1].reason.find("RCPT") != std::string::npos);
}

TEST_CASE("plan_at_mail: a recipient-dependent exempt policy hides later policies") {
    const RuleSet rules = load_ok(R"({"version": 1, "policies": [
        {"name": "early", "priority": 1, "quotas": [{"track": "sender", "messages": 10, "window": "1h"}]},
        {"name": "free_to_partner", "priority": 2, "match": {"sender": ["@hudedu.net"], "recipient": ["@partner.example"]}, "exempt": true},
        {"name": "late", "priority": 3, "quotas": [{"track": "sender", "messages": 10, "window": "1h"}]}
    ]})");
    // the exempt policy could apply: late cannot refuse at MAIL FROM
    CHECK(summary(plan_at_mail(rules, facts("a@hudedu.net"))) == std::vector<std::string>{"early/sender/messages/3600s=a@hudedu.net:1"});
    // its sender condition fails: it can never apply, late can refuse early
    CHECK(summary(plan_at_mail(rules, facts("a@other.example"))) ==
          std::vector<std::string>{"early/sender/messages/3600s=a@other.example:1", "late/sender/messages/3600s=a@other.example:1"});
    // a message-wide exempt stops plan_at_mail too
    const RuleSet bypass = load_ok(R"({"version": 1, "policies": [
        {"name": "vip", "priority": 1, "match": {"sasl": ["boss"]}, "exempt": true},
        {"name": "late", "priority": 3, "quotas": [{"track": "sender", "messages": 10, "window": "1h"}]}
    ]})");
    auto plan = plan_at_mail(bypass, facts("a@b.example", {}, {}, "Boss"));
    CHECK(plan.quotas.empty());
    REQUIRE(plan.stopped_by != nullptr);
    CHECK(plan.stopped_by->name == "vip");
}

TEST_CASE("the reference deployment (hudedu.json)") {
    const RuleSet rules = load_ok(read_file(QM_SOURCE_DIR "/rules/examples/hudedu.json"));
    CHECK(rules.needs_body());
    CHECK_FALSE(rules.needs_headers());

    // user2 is exempt through bypass_users_ratelimit
    auto plan = plan_message(rules, facts("user2@hudedu.net", {"someone@gmail.example"}, "192.0.2.10"));
    REQUIRE(plan.stopped_by != nullptr);
    CHECK(plan.stopped_by->name == "bypass_users_ratelimit");
    CHECK(plan.quotas.empty());

    // user1, however spelled, is tracked as user1@hudedu.net
    plan = plan_message(rules, facts("<User1+promo@HUDEDU.NET>", {"x@gmail.example", "y@hudedu.net"}, "192.0.2.10", {}, 2048));
    CHECK(summary(plan) == std::vector<std::string>{
                               "user1_ratelimit/sender/messages/1800s=user1@hudedu.net:1",
                               "internal_outbound/sender/messages/3600s=user1@hudedu.net:1",
                               "internal_outbound/sender/recipients/86400s=user1@hudedu.net:1",
                               "internal_outbound/sender/bytes/86400s=user1@hudedu.net:2048",
                               "internal_outbound/client_net/messages/3600s=192.0.2.0/24:1",
                           });
    REQUIRE(plan.quotas.size() == 5);
    CHECK(plan.quotas[0].quota->verdict == Verdict::reject);
    CHECK(plan.quotas[0].quota->window == std::chrono::seconds(1800));
    CHECK(plan.quotas[3].quota->limit == 500000000u);
    CHECK(plan.quotas[4].quota->verdict == Verdict::tempfail);

    // internal mail only: internal_outbound does not apply
    plan = plan_message(rules, facts("user3@hudedu.net", {"y@hudedu.net"}));
    CHECK(plan.quotas.empty());
    CHECK(summary(plan_at_mail(rules, facts("user1@hudedu.net"))) ==
          std::vector<std::string>{"user1_ratelimit/sender/messages/1800s=user1@hudedu.net:1"});
}

TEST_CASE("PlanOptions without reasons: same decisions, empty reasons") {
    for (const char* file : {"hudedu.json", "submission-sasl.json", "hosting-provider.json", "monitor-rollout.json"}) {
        CAPTURE(file);
        const RuleSet rules = load_ok(read_file(std::string(QM_SOURCE_DIR "/rules/examples/") + file));
        const std::vector<MessageFacts> messages = {
            facts("user2@hudedu.net", {"a@gmail.example"}, "192.0.2.1"),
            facts("<User1+x@HUDEDU.NET>", {"a@gmail.example", "b@hudedu.net"}, "192.0.2.1", {}, 100),
            facts("alice@example.org", {"x@gmail.example", "y@example.org"}, "198.51.100.20", "Alice"),
            facts("news@example.org", {"x@gmail.example"}, {}, "newsletter"),
            facts("scanner@example.org", {"boss@example.org"}, "2001:db8:100::9"),
            facts("info@bakery.example", {"a@gmail.example", "b@web.example"}),
            facts("<>", {"a@gmail.example"}, "192.0.2.99"),
            facts("postmaster@hosting.example", {"a@gmail.example"}),
            facts("carol@corp.example", {"partner@ext.example", "dave@corp.example"}),
            facts("alice@corp.example"),
        };
        for (const MessageFacts& message : messages) {
            CAPTURE(message.sender.str());
            for (int at_mail = 0; at_mail < 2; ++at_mail) {
                const MessagePlan full = at_mail ? plan_at_mail(rules, message) : plan_message(rules, message);
                const MessagePlan lean = at_mail ? plan_at_mail(rules, message, PlanOptions{false})
                                                 : plan_message(rules, message, PlanOptions{false});
                CHECK(summary(lean) == summary(full));
                CHECK(lean.stopped_by == full.stopped_by);
                REQUIRE(lean.trace.size() == full.trace.size());
                for (std::size_t i = 0; i < full.trace.size(); ++i) {
                    CHECK(lean.trace[i].policy == full.trace[i].policy);
                    CHECK(lean.trace[i].matched == full.trace[i].matched);
                    CHECK(lean.trace[i].reason.empty());
                    CHECK_FALSE(full.trace[i].reason.empty());
                }
            }
        }
    }
}
