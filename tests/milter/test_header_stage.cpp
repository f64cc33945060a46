// The header stage of the filter core: content rules decided at end of
// headers, tags added at end of message, header:NAME quotas charged with the
// others, monitor mode, hostile headers (many, long), and what is negotiated.
#include "milter/negotiation.h"
#include "session_fixture.h"
#include "store/quota_store.h"

#include <libmilter/mfapi.h>

#include <doctest/doctest.h>

using namespace quotamilter;
using filter::FilterAnswer;
using Action = filter::FilterAnswer::Action;

namespace {

const char* kContentRules = R"json({"version": 1,
  "groups": {"internal": ["@hudedu.net"]},
  "policies": [
    {"name": "no_forged_internal_from", "priority": 20,
     "match": {"sender": ["!%internal"], "header": [{"name": "From", "regex": "(?i)@hudedu\\.net>?\\s*$"}]},
     "verdict": "reject", "reply": "External mail may not claim to be from hudedu.net ({policy})"},
    {"name": "tag_bulk", "priority": 30,
     "match": {"header": [{"name": "Precedence", "regex": "(?i)^(bulk|list)$"}]}, "verdict": "tag"},
    {"name": "hold_no_message_id", "priority": 40,
     "match": {"header": [{"name": "Message-ID", "absent": true}, {"name": "Subject", "regex": "hold me"}]},
     "verdict": "quarantine"},
    {"name": "watch_subject", "priority": 50, "mode": "monitor",
     "match": {"header": [{"name": "Subject", "regex": "Grüße"}]}, "verdict": "reject"},
    {"name": "webmail_per_from", "priority": 60, "match": {"sender": ["webmail@hudedu.net"]},
     "quotas": [{"track": "header:From", "messages": 2, "window": "1h", "verdict": "reject",
                 "reply": "{key} sent {count} of {limit}"}]}
  ]})json";

struct Message {
    std::string from;
    std::vector<std::pair<std::string, std::string>> headers;
};

struct Outcome {
    FilterAnswer eoh;
    FilterAnswer eom = test::not_reached();
    bool reached_eom = false;
};

// MAIL, RCPT, DATA, the headers, end of headers, and end of message when
// end of headers let the message go on: the order Postfix uses.
Outcome deliver(filter::Session& session, const Message& message, bool send_headers = true) {
    Outcome outcome;
    REQUIRE(session.on_mail("<" + message.from + ">", {}, std::nullopt, std::nullopt).action == Action::continue_);
    REQUIRE(session.on_rcpt("<someone@example.org>", std::nullopt).action == Action::continue_);
    session.on_data(std::string("QID1"));
    if (send_headers) {
        for (const auto& [name, value] : message.headers) REQUIRE(session.on_header(name, value).action == Action::continue_);
        outcome.eoh = session.on_eoh();
        if (outcome.eoh.action != Action::continue_) return outcome;
    }
    outcome.eom = session.on_eom(std::string("QID1"));
    outcome.reached_eom = true;
    return outcome;
}

struct MemoryFixture {
    MemoryFixture(const std::string& rules, filter::FilterSettings settings = {})
        : store(store::open_store(memory_options())), fixture(rules, settings, store.get()) {}
    static store::StoreOptions memory_options() {
        store::StoreOptions options;
        options.url = "memory:";
        return options;
    }
    std::unique_ptr<store::QuotaStore> store;
    test::FilterFixture fixture;
};

}  // namespace

TEST_CASE("header stage: a forged internal From is refused at end of headers with the policy's text") {
    MemoryFixture f(kContentRules);
    auto session = f.fixture.connect();
    const Outcome forged = deliver(*session, {"spoof@outside.example", {{"From", " The Boss\r\n\t<BOSS@hudedu.net>"}}});
    CHECK(forged.eoh.action == Action::reject);
    CHECK(forged.eoh.rcode == "550");
    CHECK(forged.eoh.xcode == "5.7.1");
    CHECK(forged.eoh.text == "External mail may not claim to be from hudedu.net (no_forged_internal_from)");
    CHECK_FALSE(forged.reached_eom);
    CHECK_FALSE(session->in_message());
    CHECK(f.fixture.logger.count_containing("reject: policy=no_forged_internal_from content-rule from=<spoof@outside.example>") == 1);

    // The same From from inside, or another From from outside, passes.
    CHECK(deliver(*session, {"boss@hudedu.net", {{"From", "<boss@hudedu.net>"}}}).eom.action == Action::continue_);
    CHECK(deliver(*session, {"spoof@outside.example", {{"From", "x@hudedu.net.evil.example"}}}).eom.action ==
          Action::continue_);
    // RFC 2047 does not hide it: "=?UTF-8?B?Ym9zc0BodWRlZHUubmV0?=" is boss@hudedu.net
    CHECK(deliver(*session, {"spoof@outside.example", {{"From", "=?UTF-8?B?Ym9zc0BodWRlZHUubmV0?="}}}).eoh.action ==
          Action::reject);
}

TEST_CASE("header stage: tag adds its header at end of message; many headers of one name") {
    MemoryFixture f(kContentRules);
    auto session = f.fixture.connect();
    const Outcome bulk = deliver(*session, {"news@list.example", {{"Precedence", "junk"}, {"PRECEDENCE", "Bulk"}}});
    CHECK(bulk.eoh.action == Action::continue_);
    CHECK(bulk.eom.action == Action::continue_);
    REQUIRE(bulk.eom.add_headers.size() == 1);
    CHECK(bulk.eom.add_headers[0] == std::pair<std::string, std::string>{"X-Quota-Policy", "tag_bulk"});

    const Outcome plain = deliver(*session, {"news@list.example", {{"Precedence", "junk"}, {"Subject", "bulk"}}});
    CHECK(plain.eom.action == Action::continue_);
    CHECK(plain.eom.add_headers.empty());
}

TEST_CASE("header stage: quarantine at end of message; absent conditions") {
    MemoryFixture f(kContentRules);
    auto session = f.fixture.connect();
    const Outcome held = deliver(*session, {"a@outside.example", {{"Subject", "please hold me"}}});
    CHECK(held.eoh.action == Action::continue_);
    CHECK(held.eom.action == Action::quarantine);
    CHECK(held.eom.quarantine_reason == "content rule policy=hold_no_message_id");
    const Outcome with_id = deliver(*session, {"a@outside.example", {{"Subject", "hold me"}, {"Message-ID", "<1@x>"}}});
    CHECK(with_id.eom.action == Action::continue_);
}

TEST_CASE("header stage: monitor content rules log and let the mail through") {
    MemoryFixture f(kContentRules);
    auto session = f.fixture.connect();
    const Outcome watched = deliver(*session, {"a@outside.example", {{"Subject", "=?ISO-8859-1?Q?Gr=FC=DFe?="}}});
    CHECK(watched.eoh.action == Action::continue_);
    CHECK(watched.eom.action == Action::continue_);
    CHECK(f.fixture.logger.count_containing("would reject: policy=watch_subject content-rule") == 1);
}

TEST_CASE("header stage: a header:From quota counts per From, charged at end of message") {
    MemoryFixture f(kContentRules);
    auto session = f.fixture.connect();
    auto from = [&](const std::string& header_from) {
        return deliver(*session, {"webmail@hudedu.net", {{"From", header_from}}});
    };
    CHECK(from("Alice <alice@hudedu.net>").eom.action == Action::continue_);
    CHECK(from("alice+x@HUDEDU.net").eom.action == Action::continue_);
    const Outcome third = from("\"Alice\" <alice@hudedu.net>");
    CHECK(third.eom.action == Action::reject);
    CHECK(third.eom.text == "alice@hudedu.net sent 2 of 2");
    CHECK(from("Bob <bob@hudedu.net>").eom.action == Action::continue_);  // another From, another counter
    // No From header: the quota does not apply
    CHECK(deliver(*session, {"webmail@hudedu.net", {{"Subject", "x"}}}).eom.action == Action::continue_);
}

TEST_CASE("header stage: non-SMTP mail is decided at end of message") {
    filter::FilterSettings settings;
    settings.non_smtp = filter::NonSmtpDetection::always;
    MemoryFixture f(kContentRules, settings);
    auto session = f.fixture.connect("127.0.0.1", 0);
    const Outcome forged = deliver(*session, {"spoof@outside.example", {{"From", "boss@hudedu.net"}}});
    CHECK(forged.eoh.action == Action::continue_);
    CHECK(forged.eom.action == Action::reject);
}

TEST_CASE("header stage: headers never sent stay unknown, not absent") {
    MemoryFixture f(kContentRules);
    auto session = f.fixture.connect();
    // No header callbacks at all (negotiated away under older rules): the
    // absent-Message-ID rule must not fire.
    const Outcome outcome = deliver(*session, {"a@outside.example", {}}, false);
    CHECK(outcome.eom.action == Action::continue_);
}

TEST_CASE("header stage: a tag on the sender alone is decided at end of message, without headers") {
    MemoryFixture f(R"({"version": 1, "policies": [{"name": "partner", "verdict": "tag", "tag_header": "X-Partner",
                        "match": {"sender": ["@partner.example"]}}]})");
    auto session = f.fixture.connect();
    const Outcome tagged = deliver(*session, {"a@partner.example", {}}, false);  // headers not negotiated
    REQUIRE(tagged.eom.add_headers.size() == 1);
    CHECK(tagged.eom.add_headers[0] == std::pair<std::string, std::string>{"X-Partner", "partner"});
    CHECK(deliver(*session, {"a@other.example", {}}, false).eom.add_headers.empty());
}

TEST_CASE("header stage: header-free rules keep nothing and answer continue") {
    MemoryFixture f(R"({"version": 1, "policies": [{"name": "p", "quotas": [{"track": "sender", "messages": 5, "window": 60}]}]})");
    auto session = f.fixture.connect();
    const Outcome outcome = deliver(*session, {"a@b.example", {{"From", "x@hudedu.net"}, {"Subject", "x"}}});
    CHECK(outcome.eoh.action == Action::continue_);
    CHECK(outcome.eom.action == Action::continue_);
    CHECK(outcome.eom.add_headers.empty());
}

TEST_CASE("header stage: 1000 headers and a 100 KB header are bounded, and still decided") {
    MemoryFixture f(kContentRules);
    auto session = f.fixture.connect();
    Message message{"spoof@outside.example", {}};
    for (int i = 0; i < 1000; ++i) message.headers.emplace_back("Precedence", "x" + std::to_string(i));
    message.headers.emplace_back("Subject", std::string(100 * 1024, 'a') + " hold me");
    message.headers.emplace_back("From", std::string(100 * 1024, ' ') + "boss@hudedu.net");
    const Outcome outcome = deliver(*session, message);
    // The From comes after the caps: still present for "absent", its value not kept; no crash.
    CHECK(outcome.eoh.action == Action::continue_);
    CHECK(f.fixture.logger.count_containing("headers=truncated") <= 1);

    filter::HeaderCollector collector({"subject", "from"});
    collector.add("Subject", std::string(100 * 1024, 'b'));
    collector.add("SUBJECT", std::string(300 * 1024, 'c'));
    collector.add("Subject", std::string(300 * 1024, 'd'));
    collector.add("Subject", std::string(64 * 1024, 'e'));  // exactly uses up the 256 KiB
    collector.add("From", "late@example.org");
    collector.add("To", "ignored@example.org");
    CHECK(collector.truncated());
    CHECK(collector.kept_bytes() <= filter::kMaxKeptHeaderBytes);
    REQUIRE(collector.headers().size() == 5);
    CHECK(collector.headers()[0].value.size() == 64 * 1024);
    CHECK(collector.kept_bytes() == filter::kMaxKeptHeaderBytes);
    CHECK(collector.headers()[4].name == "from");
    CHECK(collector.headers()[4].value.empty());  // over the total: kept as present, without its value
}

TEST_CASE("negotiation: headers and end of headers only for content rules, add-header only for tags") {
    const std::uint64_t all_actions = SMFIF_ADDHDRS | SMFIF_QUARANTINE | SMFIF_SETSYMLIST;
    const std::uint64_t all_steps = SMFIP_NOHELO | SMFIP_NOUNKNOWN | SMFIP_NOBODY | SMFIP_NOHDRS | SMFIP_NOEOH;
    const milter::Negotiation plain = milter::negotiate(all_actions, all_steps, false, false, false);
    CHECK((plain.steps & (SMFIP_NOHDRS | SMFIP_NOEOH)) == (SMFIP_NOHDRS | SMFIP_NOEOH));
    CHECK((plain.actions & SMFIF_ADDHDRS) == 0);
    const milter::Negotiation bytes = milter::negotiate(all_actions, all_steps, true, false, false);
    CHECK((bytes.steps & SMFIP_NOEOH) != 0);  // byte counting alone: as before
    const milter::Negotiation headers = milter::negotiate(all_actions, all_steps, false, true, false);
    CHECK((headers.steps & (SMFIP_NOHDRS | SMFIP_NOEOH)) == 0);
    CHECK((headers.steps & SMFIP_NOBODY) != 0);
    CHECK((headers.actions & SMFIF_ADDHDRS) == 0);
    const milter::Negotiation tags = milter::negotiate(all_actions, all_steps, false, true, true);
    CHECK((tags.actions & SMFIF_ADDHDRS) != 0);
}
