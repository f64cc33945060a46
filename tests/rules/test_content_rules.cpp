// Content rules: match.header conditions (regex, absent, negate, many
// headers of one name), policy verdicts, header:NAME tracks, and how they
// evaluate before and after the headers are known.
#include "rules_test_util.h"

#include "rules/explain.h"
#include "rules/match.h"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

using namespace quotamilter::rules;
using rules_test::facts;
using rules_test::load_ok;

namespace {

MessageFacts with_headers(MessageFacts f, std::vector<HeaderField> headers) {
    f.headers = std::move(headers);
    f.headers_known = true;
    return f;
}

std::vector<std::string> verdict_names(const MessagePlan& plan) {
    std::vector<std::string> out;
    for (const MatchedVerdict& v : plan.verdicts) out.push_back(v.policy->name);
    return out;
}

std::vector<std::string> quota_keys(const MessagePlan& plan) {
    std::vector<std::string> out;
    for (const ApplicableQuota& q : plan.quotas) out.push_back(q.policy->name + "=" + q.tracked_value);
    return out;
}

// One reject policy with the given header conditions.
RuleSet one_condition(const std::string& conditions) {
    return load_ok(R"({"version": 1, "policies": [{"name": "c", "verdict": "reject", "match": {"header": )" + conditions +
                   "}}]}");
}

bool holds(const RuleSet& rules, std::vector<HeaderField> headers) {
    return !plan_message(rules, with_headers(facts("a@b.example"), std::move(headers))).verdicts.empty();
}

}  // namespace

TEST_CASE("content rules: a condition holds when SOME header of that name matches") {
    const RuleSet rules = one_condition(R"([{"name": "Received", "regex": "evil\\.example"}])");
    CHECK_FALSE(holds(rules, {}));
    CHECK_FALSE(holds(rules, {{"received", "from good.example"}}));
    CHECK(holds(rules, {{"received", "from good.example"}, {"received", "from evil.example"}, {"received", "x"}}));
    CHECK_FALSE(holds(rules, {{"x-received", "from evil.example"}}));  // other names do not count
}

TEST_CASE("content rules: names compare case-insensitively, values as the regex says") {
    const RuleSet rules = one_condition(R"([{"name": "SUBJECT", "regex": "^Win"}])");
    CHECK(rules.policies[0].match->headers[0].name == "subject");
    CHECK(holds(rules, {{"subject", "Win a prize"}}));
    CHECK_FALSE(holds(rules, {{"subject", "win a prize"}}));
    CHECK(holds(one_condition(R"([{"name": "Subject", "regex": "(?i)^win"}])"), {{"subject", "WIN"}}));
    // UTF-8 after decoding
    CHECK(holds(one_condition(R"([{"name": "Subject", "regex": "^Grüße$"}])"), {{"subject", "Grüße"}}));
}

TEST_CASE("content rules: absent and negate") {
    const RuleSet absent = one_condition(R"([{"name": "Message-ID", "absent": true}])");
    CHECK(holds(absent, {}));
    CHECK(holds(absent, {{"subject", "x"}}));
    CHECK_FALSE(holds(absent, {{"message-id", "<1@x>"}}));
    CHECK_FALSE(holds(absent, {{"message-id", ""}}));  // present though empty

    const RuleSet present = one_condition(R"([{"name": "Message-ID", "absent": true, "negate": true}])");
    CHECK_FALSE(holds(present, {}));
    CHECK(holds(present, {{"message-id", "<1@x>"}}));

    // negate: no header of that name matches (holds also when there is none)
    const RuleSet not_internal = one_condition(R"([{"name": "From", "regex": "@hudedu\\.net", "negate": true}])");
    CHECK(holds(not_internal, {}));
    CHECK(holds(not_internal, {{"from", "a@other.example"}}));
    CHECK_FALSE(holds(not_internal, {{"from", "a@other.example"}, {"from", "b@hudedu.net"}}));
}

TEST_CASE("content rules: all conditions of a policy must hold, with the envelope lists") {
    const RuleSet rules = load_ok(R"({"version": 1, "groups": {"internal": ["@hudedu.net"]}, "policies": [
        {"name": "forged", "verdict": "reject", "reply": "no {policy}",
         "match": {"sender": ["!%internal"], "header": [{"name": "From", "regex": "@hudedu\\.net>?\\s*$"},
                                                        {"name": "X-Trusted", "absent": true}]}}]})");
    auto forged = [&](const std::string& sender, std::vector<HeaderField> headers) {
        return !plan_message(rules, with_headers(facts(sender), std::move(headers))).verdicts.empty();
    };
    CHECK(forged("x@outside.example", {{"from", "Boss <boss@hudedu.net>"}}));
    CHECK_FALSE(forged("boss@hudedu.net", {{"from", "Boss <boss@hudedu.net>"}}));
    CHECK_FALSE(forged("x@outside.example", {{"from", "Boss <boss@hudedu.net.evil.example>"}}));
    CHECK_FALSE(forged("x@outside.example", {{"from", "boss@hudedu.net"}, {"x-trusted", "1"}}));
    const Policy& policy = rules.policies[0];
    CHECK(policy.verdict == Verdict::reject);
    CHECK(policy.reply.text == "no {policy}");
}

TEST_CASE("content rules: before end of headers, header policies are undecided") {
    const RuleSet rules = load_ok(R"({"version": 1, "policies": [
        {"name": "bulk_exempt", "priority": 10, "exempt": true, "match": {"header": [{"name": "Precedence", "regex": "bulk"}]}},
        {"name": "per_sender", "priority": 20, "quotas": [{"track": "sender", "messages": 5, "window": "1h"}]},
        {"name": "per_from", "priority": 30, "quotas": [{"track": "header:From", "messages": 5, "window": "1h"}]}
    ]})");
    // Headers unknown (MAIL, RCPT): the exempt policy might still match, so nothing after it is known.
    const MessagePlan early = plan_message(rules, facts("a@b.example", {"r@x.example"}));
    CHECK(early.quotas.empty());
    CHECK(early.undecided_from == &rules.policies[0]);
    CHECK(early.stopped_by == nullptr);
    CHECK(plan_at_mail(rules, facts("a@b.example")).quotas.empty());
    // Headers known: decided.
    const MessagePlan bulk = plan_message(rules, with_headers(facts("a@b.example", {"r@x.example"}), {{"precedence", "bulk"}}));
    CHECK(bulk.stopped_by == &rules.policies[0]);
    CHECK(bulk.quotas.empty());
    const MessagePlan normal = plan_message(
        rules, with_headers(facts("a@b.example", {"r@x.example"}), {{"from", "Web User <User+x@Webmail.Example>"}}));
    CHECK(normal.undecided_from == nullptr);
    CHECK(quota_keys(normal) == std::vector<std::string>{"per_sender=a@b.example", "per_from=user@webmail.example"});
    // header:From absent: that quota does not apply
    CHECK(quota_keys(plan_message(rules, with_headers(facts("a@b.example"), {}))) ==
          std::vector<std::string>{"per_sender=a@b.example"});
}

TEST_CASE("content rules: a header quota counts the first header of that name") {
    const RuleSet rules = load_ok(R"({"version": 1, "policies": [
        {"name": "q", "quotas": [{"track": "header:X-Account", "recipients": 100, "window": "1d"}]}]})");
    const MessagePlan plan = plan_message(rules, with_headers(facts("a@b.example", {"r1@x.example", "r2@x.example"}),
                                                              {{"x-account", " Team  Blue "}, {"x-account", "red"}}));
    REQUIRE(plan.quotas.size() == 1);
    CHECK(plan.quotas[0].tracked_value == "team blue");
    CHECK(plan.quotas[0].cost == 2);
    CHECK(plan.quotas[0].quota->track_label() == "header:x-account");
    CHECK(counter_identity(*plan.quotas[0].policy, *plan.quotas[0].quota) == "q/header:x-account/recipients/86400s");
}

TEST_CASE("content rules: verdicts, the deciding one, monitor and tag") {
    const RuleSet rules = load_ok(R"({"version": 1, "policies": [
        {"name": "tag_bulk", "priority": 5, "verdict": "tag", "match": {"header": [{"name": "Precedence", "regex": "bulk"}]}},
        {"name": "tag_custom", "priority": 6, "verdict": "tag", "tag_header": "X-Bulk: yes", "match": {"header": [{"name": "Precedence", "regex": "bulk"}]}},
        {"name": "watch", "priority": 7, "verdict": "reject", "mode": "monitor", "match": {"header": [{"name": "Subject", "regex": "spam"}]}},
        {"name": "hold", "priority": 8, "verdict": "quarantine", "match": {"header": [{"name": "Subject", "regex": "spam"}]}},
        {"name": "refuse", "priority": 9, "verdict": "reject", "code": 554, "xcode": "5.7.0", "match": {"header": [{"name": "Subject", "regex": "spam"}]}}
    ]})");
    CHECK(rules.needs_headers());
    CHECK(rules.needs_tagging());
    CHECK(rules.policies[0].tag_header_name == "X-Quota-Policy");
    CHECK(rules.policies[0].tag_header_value == "tag_bulk");
    CHECK(rules.policies[1].tag_header_name == "X-Bulk");
    CHECK(rules.policies[1].tag_header_value == "yes");
    CHECK(rules.policies[4].reply.code == "554");
    CHECK(rules.header_names() == std::vector<std::string>{"precedence", "subject"});

    const MessagePlan bulk = plan_message(rules, with_headers(facts("a@b.example"), {{"precedence", "bulk"}}));
    CHECK(verdict_names(bulk) == std::vector<std::string>{"tag_bulk", "tag_custom"});
    CHECK(deciding_verdict(bulk) == nullptr);  // tags never decide
    const MessagePlan spam = plan_message(rules, with_headers(facts("a@b.example"), {{"subject", "spam"}}));
    CHECK(verdict_names(spam) == std::vector<std::string>{"watch", "hold", "refuse"});
    REQUIRE(deciding_verdict(spam) != nullptr);
    CHECK(deciding_verdict(spam)->name == "hold");  // monitor never decides; first in order wins
}

TEST_CASE("content rules: a verdict on envelope conditions alone needs no headers") {
    const RuleSet rules = load_ok(R"({"version": 1, "policies": [
        {"name": "tag_partner", "verdict": "tag", "match": {"sender": ["@partner.example"]}}]})");
    CHECK_FALSE(rules.needs_headers());
    CHECK(rules.needs_tagging());
    const MessagePlan plan = plan_message(rules, facts("a@partner.example"));  // headers unknown: still decided
    CHECK(verdict_names(plan) == std::vector<std::string>{"tag_partner"});
}

TEST_CASE("content rules: header-free rule files need no headers, and headers change nothing for them") {
    std::ifstream in(QM_SOURCE_DIR "/rules/examples/hudedu.json");
    std::ostringstream text;
    text << in.rdbuf();
    const RuleSet rules = load_ok(text.str());
    CHECK_FALSE(rules.needs_headers());
    CHECK_FALSE(rules.needs_tagging());
    CHECK(rules.header_names().empty());
    const MessageFacts plain = facts("user1@hudedu.net", {"x@gmail.com"}, "192.0.2.7");
    const MessageFacts headed = with_headers(plain, {{"from", "user1@hudedu.net"}});
    const MessagePlan a = plan_message(rules, plain);
    const MessagePlan b = plan_message(rules, headed);
    CHECK(quota_keys(a) == quota_keys(b));
    REQUIRE(a.trace.size() == b.trace.size());
    for (std::size_t i = 0; i < a.trace.size(); ++i) CHECK(a.trace[i].reason == b.trace[i].reason);
    CHECK(a.verdicts.empty());
}

TEST_CASE("content rules: explain says why a header condition held or not") {
    const RuleSet rules = one_condition(R"([{"name": "From", "regex": "@hudedu\\.net"}, {"name": "X-Spam", "absent": true, "negate": true}])");
    const MessagePlan plan = plan_message(rules, with_headers(facts("a@b.example"), {{"from", "a@hudedu.net"}}));
    REQUIRE(plan.trace.size() == 1);
    CHECK_FALSE(plan.trace[0].matched);
    CHECK(plan.trace[0].reason == "header From: \"a@hudedu.net\" matches /@hudedu\\.net/; header X-Spam is absent, negated: does not hold");
}
