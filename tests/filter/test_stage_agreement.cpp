// explain and the milter answer the same, stage by stage. For each rule file
// in tests/filter/stages/ and an envelope, `explain`'s walk
// (rules::stage_steps) names the first stage and policy that acts — when
// every counter is full, and when every counter is empty — and a Session
// driven through the same envelope against a store that is full or empty must
// act first at that stage, by that policy. The transcript of both sides is a
// golden file (NAME.ref next to the rule file; QM_UPDATE_GOLDEN=1 rewrites it).
#include "rules/explain.h"
#include "rules/header_text.h"
#include "rules/load.h"
#include "session_fixture.h"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

using namespace quotamilter;
using Action = filter::FilterAnswer::Action;

namespace {

const std::string kStagesDir = std::string(QM_SOURCE_DIR) + "/tests/filter/stages/";

struct Envelope {
    std::string sender;
    std::vector<std::string> recipients;
    std::vector<std::pair<std::string, std::string>> headers;  // empty: none given
    std::uint64_t size = 0;
    std::string client = "192.0.2.7";
};

struct Case {
    std::string rules_file;  // in tests/filter/stages/
    std::string name;        // golden file NAME.ref
    Envelope envelope;
};

// What acted first: the stage (as the log's stage=) and the policy; empty when nothing did.
struct FirstAct {
    std::string stage;
    std::string policy;
    bool operator==(const FirstAct&) const = default;
};

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot read " << path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

rules::MessageFacts facts_of(const Envelope& envelope) {
    rules::MessageFacts facts;
    facts.sender = rules::normalize_address(envelope.sender);
    for (const auto& recipient : envelope.recipients) facts.recipients.push_back(rules::normalize_address(recipient));
    facts.client_ip = envelope.client;
    facts.size = envelope.size;
    if (!envelope.headers.empty()) {
        facts.headers_known = true;
        for (const auto& [name, value] : envelope.headers)
            facts.headers.push_back({rules::lower_ascii(name), rules::decode_header_value(value)});
    }
    return facts;
}

// explain's prediction: the first step that acts.
FirstAct predicted(const std::vector<rules::StageStep>& steps, bool full) {
    for (const rules::StageStep& step : steps) {
        const bool acts = full ? rules::acts_when_full(step) : step.kind == rules::StageStep::Kind::content;
        if (acts) return {std::string(rules::stage_log_name(step.stage)), step.policy->name};
    }
    return {};
}

std::string describe(const filter::FilterAnswer& answer) {
    std::string text(filter::to_string(answer.action));
    if (!answer.rcode.empty()) text += " " + answer.rcode + " " + answer.xcode + " " + answer.text;
    for (const auto& [name, value] : answer.add_headers) text += " +header " + name + ": " + value;
    return text;
}

// "policy=NAME" and "stage=STAGE" of a log line.
std::string field(const std::string& line, const std::string& name) {
    const std::size_t at = line.find(" " + name + "=");
    if (at == std::string::npos) return {};
    const std::size_t start = at + name.size() + 2;
    return line.substr(start, line.find(' ', start) - start);
}

// Drives a session through the envelope the way Postfix does; returns what
// acted first (from the first log line of an action) and the transcript.
FirstAct drive(const Case& c, bool full, std::string& transcript) {
    test::FilterFixture f(read_file(kStagesDir + c.rules_file));
    f.scripted.full = full;
    auto session = f.connect(c.envelope.client, 40000);
    const std::vector<std::string> params{"SIZE=" + std::to_string(c.envelope.size)};
    auto record = [&](const std::string& event, const filter::FilterAnswer& answer) {
        transcript += "  " + event + ": " + describe(answer) + "\n";
        return answer.action;
    };
    bool going = record("MAIL FROM " + c.envelope.sender,
                        session->on_mail("<" + c.envelope.sender + ">", params, std::nullopt, std::nullopt)) ==
                 Action::continue_;
    bool any_recipient = false;
    for (const auto& recipient : c.envelope.recipients) {
        if (!going) break;
        any_recipient |= record("RCPT TO " + recipient, session->on_rcpt("<" + recipient + ">", std::nullopt)) ==
                         Action::continue_;
    }
    if (going && any_recipient) {
        session->on_data(std::string("QID1"));
        for (const auto& [name, value] : c.envelope.headers) session->on_header(name, value);
        if (!c.envelope.headers.empty()) going = record("end of headers", session->on_eoh()) == Action::continue_;
        if (going) record("end of message", session->on_eom(std::string("QID1")));
    }
    FirstAct first;
    for (const std::string& line : f.logger.lines()) {
        if (line.find("policy=") == std::string::npos) continue;
        transcript += "  log: " + line.substr(line.find(": ") + 2) + "\n";
        const bool would = line.find(": would ") != std::string::npos;  // monitor: acts on nothing
        if (first.policy.empty() && !would) first = {field(line, "stage"), field(line, "policy")};
    }
    return first;
}

void check_case(const Case& c) {
    CAPTURE(c.name);
    auto loaded = rules::load_rules_file(kStagesDir + c.rules_file);
    REQUIRE(std::holds_alternative<rules::RuleSet>(loaded));
    const rules::RuleSet& rule_set = std::get<rules::RuleSet>(loaded);
    const rules::MessageFacts facts = facts_of(c.envelope);
    const std::vector<rules::StageStep> steps = rules::stage_steps(rule_set, facts);

    std::string golden = "explain, stage by stage:\n";
    for (const rules::StageStep& step : steps) golden += "  " + rules::stage_step_text(step, facts) + "\n";
    for (const bool full : {true, false}) {
        std::string transcript;
        const FirstAct milter = drive(c, full, transcript);
        const FirstAct explain = predicted(steps, full);
        golden += full ? "milter, every counter full:\n" : "milter, every counter empty:\n";
        golden += transcript;
        CAPTURE(full);
        CHECK(milter.stage == explain.stage);
        CHECK(milter.policy == explain.policy);
    }

    const std::string ref = kStagesDir + c.name + ".ref";
    if (const char* update = std::getenv("QM_UPDATE_GOLDEN"); update && std::string(update) == "1") {
        std::ofstream(ref, std::ios::binary) << golden;
        return;
    }
    CHECK(golden == read_file(ref));
}

}  // namespace

TEST_CASE("explain and the milter agree: quotas of every verdict and mode (only enforced reject/tempfail refuse early)") {
    check_case({"quota_verdicts.json", "quota_verdicts", {"user@hudedu.net", {"x@ext.example", "y@ext.example"}, {}, 1000}});
}

TEST_CASE("explain and the milter agree: envelope-only content rules refuse at MAIL FROM or RCPT TO") {
    check_case({"envelope_content.json", "envelope_blocked_sender", {"spammer@outside.example", {"a@hudedu.net"}, {}, 0}});
    check_case({"envelope_content.json", "envelope_recipient_rule",
                {"a@hudedu.net", {"boss@legal.hudedu.net", "bob@hudedu.net"}, {}, 0}});
}

TEST_CASE("explain and the milter agree: header content rules, quarantine, tags, header quotas") {
    check_case({"header_content.json", "header_forged_from",
                {"x@outside.example", {"a@hudedu.net"}, {{"From", "<ceo@hudedu.net>"}, {"Subject", "hello"}}}});
    check_case({"header_content.json", "header_waits_for_earlier_rule",
                {"x@blocked.example", {"a@hudedu.net"}, {{"From", "<x@blocked.example>"}, {"Subject", "hello"}}}});
    check_case({"header_content.json", "header_quarantine_and_tag",
                {"a@hudedu.net",
                 {"b@ext.example"},
                 {{"From", "<a@hudedu.net>"}, {"Subject", "Invoice 12"}, {"Precedence", "bulk"}}}});
}

TEST_CASE("explain and the milter agree: a monitor content rule never refuses") {
    check_case({"monitor_content.json", "monitor_content", {"a@outside.example", {"b@hudedu.net"}, {}, 0}});
}
