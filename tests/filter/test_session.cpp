// The filter core driven without an MTA: when it refuses, what it charges.
#include "session_fixture.h"

#include "store/testing.h"

#include <doctest/doctest.h>

using quotamilter::filter::FilterAnswer;
using quotamilter::filter::FilterSettings;
using quotamilter::filter::NonSmtpDetection;
using quotamilter::filter::OnStoreError;
using namespace quotamilter::test;
using Action = FilterAnswer::Action;

namespace {

std::unique_ptr<quotamilter::store::StoreBackend> memory_store() {
    quotamilter::store::StoreOptions options;
    options.url = "memory:";
    return quotamilter::store::open_store_for_tests(options);
}

const std::vector<std::string> kNoParams;

const char* kSenderRules = R"({
  "version": 1,
  "policies": [
    { "name": "per_sender", "match": { "sender": ["@hudedu.net"] },
      "quotas": [
        { "track": "sender", "messages": 3, "window": "1h", "verdict": "reject",
          "reply": "{policy}: {count}/{limit} per {window}, retry in {retry_after}" },
        { "track": "sender", "recipients": 5, "window": "1h" }
      ] }
  ]
})";

}  // namespace

TEST_CASE("a full sender quota refuses at MAIL FROM with its verdict and reply") {
    FilterFixture f(kSenderRules);
    auto session = f.connect();
    for (int i = 0; i < 3; ++i) {
        Transaction t = send_message(*session, "a@hudedu.net", {"x@ext.example"});
        REQUIRE(t.reached_eom);
        CHECK(t.eom.action == Action::continue_);
    }
    CHECK(f.scripted.count("per_sender", "messages", "a@hudedu.net") == 3);

    const std::size_t charges_before = f.scripted.calls_of("charge");
    Transaction t = send_message(*session, "A+tag@HUDEDU.NET", {"x@ext.example"});
    CHECK(t.mail.action == Action::reject);
    CHECK(t.mail.rcode == "550");
    CHECK(t.mail.xcode == "5.7.1");
    CHECK(t.mail.text == "per_sender: 3/3 per 1h, retry in 4m12s");
    CHECK_FALSE(t.reached_eom);
    CHECK(f.scripted.calls_of("charge") == charges_before);
    CHECK(f.logger.count_containing(
              "NOQUEUE: reject: policy=per_sender track=sender key=<a@hudedu.net> count=3/3 window=3600s "
              "from=<A+tag@HUDEDU.NET> client=192.0.2.7") == 1);

    // Another sender is not affected.
    Transaction other = send_message(*session, "b@hudedu.net", {"x@ext.example"});
    CHECK(other.mail.action == Action::continue_);
    CHECK(other.eom.action == Action::continue_);
}

TEST_CASE("RCPT is refused when the recipients room is gone, counting recipients already accepted") {
    FilterFixture f(kSenderRules);
    auto session = f.connect();
    // 6 recipients with room for 5: the 6th is refused (tempfail, the default verdict).
    Transaction t = send_message(*session, "a@hudedu.net",
                                 {"r1@ext.example", "r2@ext.example", "r3@ext.example", "r4@ext.example",
                                  "r5@ext.example", "r6@ext.example"});
    REQUIRE(t.rcpts.size() == 6);
    for (int i = 0; i < 5; ++i) CHECK(t.rcpts[i].action == Action::continue_);
    CHECK(t.rcpts[5].action == Action::tempfail);
    CHECK(t.rcpts[5].rcode == "451");
    CHECK(t.rcpts[5].xcode == "4.7.1");
    CHECK(t.rcpts[5].text.find("per_sender") != std::string::npos);
    CHECK(f.logger.count_containing("tempfail: policy=per_sender track=sender key=<a@hudedu.net> count=0/5") == 1);
    CHECK(f.logger.count_containing("to=<r6@ext.example> client=192.0.2.7 stage=RCPT cost=6") == 1);
    REQUIRE(t.reached_eom);
    CHECK(t.eom.action == Action::continue_);
    CHECK(f.scripted.count("per_sender", "recipients", "a@hudedu.net") == 5);

    // The next message's first recipient no longer fits.
    Transaction next = send_message(*session, "a@hudedu.net", {"r7@ext.example"});
    CHECK(next.mail.action == Action::continue_);
    REQUIRE(next.rcpts.size() == 1);
    CHECK(next.rcpts[0].action == Action::tempfail);
    CHECK(f.scripted.count("per_sender", "messages", "a@hudedu.net") == 1);
}

TEST_CASE("aborted, RSET and restarted transactions charge nothing") {
    FilterFixture f(kSenderRules);
    auto session = f.connect();
    for (int i = 0; i < 5; ++i) {
        CHECK(session->on_mail("<a@hudedu.net>", kNoParams, std::nullopt, std::nullopt).action == Action::continue_);
        CHECK(session->on_rcpt("<x@ext.example>", std::nullopt).action == Action::continue_);
        session->on_abort();  // RSET / QUIT / lost connection
    }
    // MAIL again without abort (as after a refused transaction).
    session->on_mail("<a@hudedu.net>", kNoParams, std::nullopt, std::nullopt);
    session->on_rcpt("<x@ext.example>", std::nullopt);
    session->on_mail("<a@hudedu.net>", kNoParams, std::nullopt, std::nullopt);
    CHECK(session->accepted_recipients() == 0);
    session->on_abort();
    CHECK(f.scripted.calls_of("charge") == 0);
    CHECK(f.scripted.count("per_sender", "messages", "a@hudedu.net") == 0);
    // End of message without a transaction does nothing either.
    CHECK(session->on_eom(std::nullopt).action == Action::continue_);
    CHECK(f.scripted.calls_of("charge") == 0);
}

TEST_CASE("a 6-recipient message counts 1 message and 6 recipients (memory store)") {
    auto memory = memory_store();
    FilterFixture f(R"({
      "version": 1,
      "policies": [
        { "name": "bulk", "match": { "sender": ["@hudedu.net"] },
          "quotas": [
            { "track": "sender", "messages": 100, "window": "1h" },
            { "track": "sender", "recipients": 100, "window": "1h" }
          ] }
      ]
    })",
                    {}, memory.get());
    auto session = f.connect();
    Transaction t = send_message(*session, "a@hudedu.net",
                                 {"r1@ext.example", "r2@ext.example", "r3@ext.example", "r4@ext.example",
                                  "r5@ext.example", "r6@ext.example"});
    REQUIRE(t.reached_eom);
    CHECK(t.eom.action == Action::continue_);
    auto status = memory->counters_of("a@hudedu.net");
    REQUIRE(status.status == quotamilter::store::AdminStatus::ok);
    std::uint64_t messages = 0, recipients = 0;
    for (const auto& counter : status.counters) {
        if (counter.counter.unit == "messages") messages = counter.count;
        if (counter.counter.unit == "recipients") recipients = counter.count;
    }
    CHECK(messages == 1);
    CHECK(recipients == 6);
}

TEST_CASE("a message held by a quota still carries the tags of the tag policies it matches") {
    FilterFixture f(R"({
      "version": 1,
      "policies": [
        { "name": "mark_outbound", "priority": 5, "match": { "sender": ["@hudedu.net"] },
          "verdict": "tag", "tag_header": "X-Outbound: yes" },
        { "name": "held", "priority": 10, "match": { "sender": ["hold@hudedu.net"] },
          "quotas": [ { "track": "sender", "messages": 1, "window": "1h", "verdict": "quarantine" } ] }
      ]
    })");
    auto session = f.connect();
    using Header = std::pair<std::string, std::string>;
    const Header outbound{"X-Outbound", "yes"};
    Transaction first = send_message(*session, "hold@hudedu.net", {"x@ext.example"});
    CHECK(first.eom.action == Action::continue_);
    CHECK(first.eom.add_headers == std::vector<Header>{outbound});
    Transaction held = send_message(*session, "hold@hudedu.net", {"x@ext.example"});
    CHECK(held.eom.action == Action::quarantine);
    CHECK(held.eom.add_headers == std::vector<Header>{outbound});
}

TEST_CASE("all or none: a quota refused at end of message charges no other quota") {
    auto memory = memory_store();
    // The recipients quota quarantines, so it only acts at end of message.
    FilterFixture f(R"({
      "version": 1,
      "policies": [
        { "name": "mixed", "match": { "sender": ["@hudedu.net"] },
          "quotas": [
            { "track": "sender", "messages": 10, "window": "1h", "verdict": "reject" },
            { "track": "sender", "recipients": 2, "window": "1h", "verdict": "quarantine" }
          ] }
      ]
    })",
                    {}, memory.get());
    auto session = f.connect();
    Transaction t = send_message(*session, "a@hudedu.net", {"r1@ext.example", "r2@ext.example", "r3@ext.example"});
    REQUIRE(t.rcpts.size() == 3);
    for (const auto& rcpt : t.rcpts) CHECK(rcpt.action == Action::continue_);
    REQUIRE(t.reached_eom);
    CHECK(t.eom.action == Action::quarantine);
    CHECK(t.eom.quarantine_reason.find("policy=mixed") != std::string::npos);
    CHECK(f.logger.count_containing("QID1: quarantine: policy=mixed track=sender key=<a@hudedu.net> count=0/2") == 1);
    auto status = memory->counters_of("a@hudedu.net");
    for (const auto& counter : status.counters) CHECK(counter.count == 0);

    // A message that fits is charged on both.
    Transaction ok = send_message(*session, "a@hudedu.net", {"r1@ext.example", "r2@ext.example"});
    CHECK(ok.eom.action == Action::continue_);
    status = memory->counters_of("a@hudedu.net");
    std::uint64_t total = 0;
    for (const auto& counter : status.counters) total += counter.count;
    CHECK(total == 3);  // 1 message + 2 recipients
}

TEST_CASE("discard verdict discards at end of message") {
    FilterFixture f(R"({
      "version": 1,
      "policies": [
        { "name": "drop", "match": { "sender": ["@hudedu.net"] },
          "quotas": [ { "track": "sender", "messages": 1, "window": "1h", "verdict": "discard" } ] }
      ]
    })");
    auto session = f.connect();
    CHECK(send_message(*session, "a@hudedu.net", {"x@ext.example"}).eom.action == Action::continue_);
    Transaction t = send_message(*session, "a@hudedu.net", {"x@ext.example"});
    CHECK(t.mail.action == Action::continue_);  // discard cannot act before the end
    CHECK(t.eom.action == Action::discard);
    CHECK(f.logger.count_containing("QID1: discard: policy=drop") == 1);
}

TEST_CASE("monitor mode never refuses, logs 'would reject' and does not count beyond the limit") {
    FilterFixture f(R"({
      "version": 1,
      "policies": [
        { "name": "watch", "mode": "monitor", "match": { "sender": ["@hudedu.net"] },
          "quotas": [ { "track": "sender", "messages": 2, "window": "1h", "verdict": "reject" } ] },
        { "name": "enforced", "match": { "sender": ["@hudedu.net"] },
          "quotas": [ { "track": "sender", "messages": 100, "window": "1h" } ] }
      ]
    })");
    auto session = f.connect();
    for (int i = 0; i < 5; ++i) {
        Transaction t = send_message(*session, "a@hudedu.net", {"x@ext.example"});
        CHECK(t.mail.action == Action::continue_);
        REQUIRE(t.rcpts.size() == 1);
        CHECK(t.rcpts[0].action == Action::continue_);
        CHECK(t.eom.action == Action::continue_);
    }
    CHECK(f.logger.count_containing("would reject: policy=watch") == 3);
    CHECK(f.logger.count_containing(": reject: ") == 0);
    CHECK(f.scripted.count("watch", "messages", "a@hudedu.net") == 2);
    CHECK(f.scripted.count("enforced", "messages", "a@hudedu.net") == 5);
}

TEST_CASE("store errors answer per on_store_error, logged once per outage and once on recovery") {
    SUBCASE("tempfail (default)") {
        FilterFixture f(kSenderRules);
        auto session = f.connect();
        f.scripted.fail = true;
        for (int i = 0; i < 3; ++i) {
            Transaction t = send_message(*session, "a@hudedu.net", {"x@ext.example"});
            CHECK(t.mail.action == Action::tempfail);
            CHECK(t.mail.rcode == "451");
            CHECK(t.mail.xcode == "4.7.1");
            CHECK_FALSE(t.mail.text.empty());
        }
        CHECK(f.logger.count_containing("store unavailable") == 1);
        CHECK(f.logger.count_containing("store recovered") == 0);
        f.scripted.fail = false;
        for (int i = 0; i < 2; ++i)
            CHECK(send_message(*session, "a@hudedu.net", {"x@ext.example"}).eom.action == Action::continue_);
        CHECK(f.logger.count_containing("store recovered") == 1);
        CHECK(f.scripted.count("per_sender", "messages", "a@hudedu.net") == 2);
    }
    SUBCASE("tempfail at end of message") {
        FilterFixture f(kSenderRules);
        auto session = f.connect();
        session->on_mail("<a@hudedu.net>", kNoParams, std::nullopt, std::nullopt);
        session->on_rcpt("<x@ext.example>", std::nullopt);
        f.scripted.fail = true;
        FilterAnswer eom = session->on_eom(std::string("QID9"));
        CHECK(eom.action == Action::tempfail);
        CHECK(eom.rcode == "451");
    }
    SUBCASE("accept") {
        FilterSettings settings;
        settings.on_store_error = OnStoreError::accept;
        FilterFixture f(kSenderRules, settings);
        auto session = f.connect();
        f.scripted.fail = true;
        Transaction t = send_message(*session, "a@hudedu.net", {"x@ext.example"});
        // The message passes uncounted; content rules would still apply (test_content_rules_store_outage).
        CHECK(t.mail.action == Action::continue_);
        CHECK(t.eom.action == Action::continue_);
        CHECK(f.scripted.calls_of("check") == 1);   // not asked again about this message
        CHECK(f.scripted.calls_of("charge") == 0);
        CHECK(f.logger.count_containing("store unavailable") == 1);
        CHECK(f.logger.count_containing("answering accept") == 1);
        f.scripted.fail = false;
        Transaction after = send_message(*session, "a@hudedu.net", {"x@ext.example"});
        CHECK(after.eom.action == Action::continue_);
        CHECK(f.scripted.count("per_sender", "messages", "a@hudedu.net") == 1);
    }
}

TEST_CASE("non-SMTP mail (Postfix's port-0 local connect) is never refused at RCPT, only at end of message") {
    FilterFixture f(kSenderRules);
    auto session = f.connect("127.0.0.1", 0);
    CHECK(session->non_smtp());
    for (int i = 0; i < 3; ++i) send_message(*session, "a@hudedu.net", {"x@ext.example"});
    Transaction t = send_message(*session, "a@hudedu.net", {"x@ext.example", "y@ext.example"});
    CHECK(t.mail.action == Action::continue_);
    for (const auto& rcpt : t.rcpts) CHECK(rcpt.action == Action::continue_);
    REQUIRE(t.reached_eom);
    CHECK(t.eom.action == Action::reject);
    CHECK(t.eom.rcode == "550");
    CHECK(f.scripted.calls_of("check") == 0);

    // A real SMTP client on loopback has a port: normal behaviour.
    auto smtp = f.connect("127.0.0.1", 51234);
    CHECK_FALSE(smtp->non_smtp());
    CHECK(send_message(*smtp, "a@hudedu.net", {"x@ext.example"}).mail.action == Action::reject);

    FilterSettings never;
    never.non_smtp = NonSmtpDetection::never;
    FilterFixture g(kSenderRules, never);
    CHECK_FALSE(g.connect("127.0.0.1", 0)->non_smtp());
}

TEST_CASE("bytes: counted header and body bytes when the body is negotiated, else SIZE=") {
    const char* rules = R"({
      "version": 1,
      "policies": [
        { "name": "volume", "match": { "sender": ["@hudedu.net"] },
          "quotas": [ { "track": "sender", "bytes": 1000, "window": "1h", "verdict": "reject" } ] }
      ]
    })";
    SUBCASE("body negotiated") {
        FilterFixture f(rules);
        auto session = f.connect("192.0.2.7", 40000, true);
        session->on_mail("<a@hudedu.net>", std::vector<std::string>{"SIZE=5"}, std::nullopt, std::nullopt);
        session->on_rcpt("<x@ext.example>", std::nullopt);
        session->on_header("Subject", "hello");  // 7 + 2 + 5 + 2 = ... "Subject: hello\r\n" = 16
        session->on_eoh();                       // 2
        session->on_body(300);
        CHECK(session->on_eom(std::nullopt).action == Action::continue_);
        CHECK(f.scripted.count("volume", "bytes", "a@hudedu.net") == 318);
    }
    SUBCASE("body negotiated, end of headers not (a bytes quota alone): the empty line still counts") {
        FilterFixture f(rules);
        auto session = f.connect("192.0.2.7", 40000, true);
        session->on_mail("<a@hudedu.net>", std::vector<std::string>{"SIZE=5"}, std::nullopt, std::nullopt);
        session->on_rcpt("<x@ext.example>", std::nullopt);
        session->on_header("Subject", "hello");
        session->on_body(300);
        CHECK(session->on_eom(std::nullopt).action == Action::continue_);
        CHECK(f.scripted.count("volume", "bytes", "a@hudedu.net") == 318);
    }
    SUBCASE("body not negotiated: SIZE= counts") {
        FilterFixture f(rules);
        auto session = f.connect();
        Transaction t = send_message(*session, "a@hudedu.net", {"x@ext.example"}, {"BODY=8BITMIME", "size=700"});
        CHECK(t.eom.action == Action::continue_);
        CHECK(f.scripted.count("volume", "bytes", "a@hudedu.net") == 700);
        // 300 left: a message declaring 400 is refused at MAIL FROM already.
        Transaction big = send_message(*session, "a@hudedu.net", {"x@ext.example"}, {"SIZE=400"});
        CHECK(big.mail.action == Action::reject);
        Transaction small = send_message(*session, "a@hudedu.net", {"x@ext.example"}, {"SIZE=300"});
        CHECK(small.eom.action == Action::continue_);
        // Exhausted: even without SIZE= the next one is refused at MAIL.
        CHECK(send_message(*session, "a@hudedu.net", {"x@ext.example"}).mail.action == Action::reject);
    }
}

TEST_CASE("a message keeps the rules it started with; a reload applies to the next message") {
    FilterFixture f(kSenderRules);
    auto session = f.connect();
    session->on_mail("<a@hudedu.net>", kNoParams, std::nullopt, std::nullopt);
    session->on_rcpt("<x@ext.example>", std::nullopt);
    f.holder.replace(rules_from(R"({ "version": 1, "policies": [] })"));
    CHECK(session->on_eom(std::nullopt).action == Action::continue_);
    CHECK(f.scripted.count("per_sender", "messages", "a@hudedu.net") == 1);  // old rules charged
    send_message(*session, "a@hudedu.net", {"x@ext.example"});
    CHECK(f.scripted.count("per_sender", "messages", "a@hudedu.net") == 1);  // new rules: nothing applies
}

TEST_CASE("sasl_username and the queue id appear in refusal lines") {
    FilterFixture f(R"({
      "version": 1,
      "policies": [
        { "name": "auth", "match": { "sasl": ["*"] },
          "quotas": [ { "track": "sasl_user", "messages": 1, "window": "30m", "verdict": "reject" } ] }
      ]
    })");
    auto session = f.connect("2001:db8::5", 40000);
    CHECK(send_message(*session, "a@hudedu.net", {"x@ext.example"}, {}, std::string("alice")).eom.action ==
          Action::continue_);
    // Unauthenticated: the quota does not apply.
    CHECK(send_message(*session, "a@hudedu.net", {"x@ext.example"}).eom.action == Action::continue_);
    FilterAnswer mail = session->on_mail("<a@hudedu.net>", kNoParams, std::string("alice"), std::string("ABC123"));
    CHECK(mail.action == Action::reject);
    CHECK(f.logger.count_containing("ABC123: reject: policy=auth track=sasl_user key=<alice> count=1/1 "
                                    "window=1800s from=<a@hudedu.net> client=2001:db8::5 sasl_username=alice") == 1);
}

namespace {

struct CountingMetrics final : quotamilter::filter::Metrics {
    std::vector<std::string> refusals;
    int accepted = 0, store_errors = 0, opened = 0, closed = 0;
    void refusal(std::string_view policy, std::string_view verdict) override {
        refusals.push_back(std::string(policy) + "/" + std::string(verdict));
    }
    void message_accepted() override { ++accepted; }
    void store_error_answer(std::string_view) override { ++store_errors; }
    void store_call(std::string_view, std::chrono::duration<double>, bool) override {}
    void connection_opened() override { ++opened; }
    void connection_closed() override { ++closed; }
    void rules_loaded(bool) override {}
};

}  // namespace

TEST_CASE("metrics: refusals by policy and verdict, accepted messages, store errors, connections") {
    CountingMetrics metrics;
    ScriptedStore store;
    CapturingLogger logger;
    quotamilter::filter::RulesHolder holder(rules_from(kSenderRules));
    quotamilter::filter::FilterEnvironment environment(holder, store, logger, {}, &metrics);
    {
        quotamilter::filter::Session session(environment, body_stages(false));
        session.on_connect(std::string("192.0.2.7"), 1234);
        for (int i = 0; i < 4; ++i) send_message(session, "a@hudedu.net", {"x@ext.example"});
        store.fail = true;
        send_message(session, "b@hudedu.net", {"x@ext.example"});
        CHECK(metrics.opened == 1);
        CHECK(metrics.closed == 0);
    }
    CHECK(metrics.closed == 1);
    CHECK(metrics.accepted == 3);
    REQUIRE(metrics.refusals.size() == 1);
    CHECK(metrics.refusals[0] == "per_sender/reject");
    CHECK(metrics.store_errors == 1);
}

TEST_CASE("RCPT does not ask the store again for what MAIL FROM already found to fit; new recipient costs are asked") {
    FilterFixture f(R"({
      "version": 1,
      "policies": [
        { "name": "per_sender", "match": { "sender": ["@hudedu.net"] },
          "quotas": [ { "track": "sender", "messages": 3, "window": "1h", "verdict": "reject" } ] },
        { "name": "per_rcpt", "match": { "sender": ["@hudedu.net"] },
          "quotas": [ { "track": "sender", "recipients": 3, "window": "1h", "verdict": "reject" } ] }
      ]
    })");
    auto session = f.connect();
    REQUIRE(session->on_mail("<a@hudedu.net>", {}, std::nullopt, std::nullopt).action == Action::continue_);
    REQUIRE(f.scripted.calls_of("check") == 1);
    REQUIRE(session->on_rcpt("<r1@ext.example>", std::nullopt).action == Action::continue_);
    REQUIRE(f.scripted.calls.size() == 2);
    // The messages quota (cost 1) was asked at MAIL: only the recipients quota is asked now.
    for (const auto& request : f.scripted.calls.back().requests) CHECK(request.counter.unit == "recipients");
    REQUIRE(session->on_rcpt("<r2@ext.example>", std::nullopt).action == Action::continue_);
    REQUIRE(f.scripted.calls.size() == 3);
    REQUIRE(f.scripted.calls.back().requests.size() == 1);
    CHECK(f.scripted.calls.back().requests[0].cost == 2);  // the recipients room, counting r1
    session->on_abort();
}

TEST_CASE("a quota filled by another session between MAIL and RCPT is still refused at end of message") {
    FilterFixture f(R"({
      "version": 1,
      "policies": [
        { "name": "per_sender", "match": { "sender": ["@hudedu.net"] },
          "quotas": [ { "track": "sender", "messages": 1, "window": "1h", "verdict": "reject" } ] }
      ]
    })");
    auto slow = f.connect();
    REQUIRE(slow->on_mail("<a@hudedu.net>", {}, std::nullopt, std::nullopt).action == Action::continue_);
    auto fast = f.connect("192.0.2.8");
    Transaction other = send_message(*fast, "a@hudedu.net", {"x@ext.example"});
    REQUIRE(other.eom.action == Action::continue_);
    REQUIRE(slow->on_rcpt("<r1@ext.example>", std::nullopt).action == Action::continue_);  // not asked again
    slow->on_data(std::string("QID2"));
    CHECK(slow->on_eom(std::string("QID2")).action == Action::reject);
    CHECK(f.scripted.count("per_sender", "messages", "a@hudedu.net") == 1);
}

TEST_CASE("refusal lines show the sender as the client sent it (like Postfix's from=), the key normalised") {
    FilterFixture f(R"({
      "version": 1,
      "policies": [
        { "name": "per_sender", "match": { "sender": ["@hudedu.net"] },
          "quotas": [ { "track": "sender", "messages": 1, "window": "1h", "verdict": "reject" } ] },
        { "name": "everyone", "match": {},
          "quotas": [ { "track": "policy", "messages": 1, "window": "1h", "verdict": "reject" } ] }
      ]
    })");
    auto session = f.connect();
    REQUIRE(send_message(*session, "a@hudedu.net", {"x@ext.example"}).eom.action == Action::continue_);
    CHECK(session->on_mail("<A+promo@HUDEDU.NET>", {}, std::nullopt, std::nullopt).action == Action::reject);
    CHECK(f.logger.count_containing("key=<a@hudedu.net> count=1/1 window=3600s from=<A+promo@HUDEDU.NET> ") == 1);
    // A hostile envelope cannot forge a log line.
    CHECK(session->on_mail("<b@ext.example\r\nquotamilter: forged>", {}, std::nullopt, std::nullopt).action ==
          Action::reject);
    CHECK(f.logger.count_containing("policy=everyone track=policy key=<everyone> count=1/1 window=3600s "
                                    "from=<b@ext.example??quotamilter: forged>") == 1);
}
