// The loader: values land where they should, defaults apply, and errors
// carry the position of the key or value at fault. (The broken/ folder has
// the golden tests of every error message.)
#include "rules_test_util.h"

#include "rules/json_tree.h"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

using namespace quotamilter::rules;
using rules_test::load_errors;
using rules_test::load_ok;

TEST_CASE("json_tree: positions of values and keys") {
    auto parsed = parse_json_with_positions("{\n  \"a\": [1, \"x\",\n\ttrue],\n  \"b\": {\"c\": -2.5e3}\n}");
    REQUIRE(std::holds_alternative<JsonValue>(parsed));
    const JsonValue& root = std::get<JsonValue>(parsed);
    REQUIRE(root.members.size() == 2);
    CHECK(root.members[0].first.key == "a");
    CHECK(root.members[0].first.key_position.line == 2);
    CHECK(root.members[0].first.key_position.column == 3);
    const JsonValue& list = root.members[0].second;
    CHECK(list.position.column == 8);
    REQUIRE(list.items.size() == 3);
    CHECK(list.items[1].kind == JsonValue::Kind::string);
    CHECK(list.items[1].position.column == 12);
    CHECK(list.items[2].position.line == 3);
    CHECK(list.items[2].position.column == 2);  // columns count bytes: a tab is one
    CHECK(root.members[1].second.members[0].second.kind == JsonValue::Kind::number);
    CHECK(root.members[1].second.members[0].second.number == -2500.0);
}

TEST_CASE("json_tree: strings, escapes, numbers") {
    auto parsed = parse_json_with_positions(R"(["a\"b\\c\/\n", "\u00fc\ud83d\ude00", 9223372036854775807, 9223372036854775808, -0])");
    REQUIRE(std::holds_alternative<JsonValue>(parsed));
    const auto& items = std::get<JsonValue>(parsed).items;
    CHECK(items[0].string == "a\"b\\c/\n");
    CHECK(items[1].string == "\xc3\xbc\xf0\x9f\x98\x80");
    CHECK(items[2].kind == JsonValue::Kind::integer);
    CHECK(items[3].kind == JsonValue::Kind::number);  // too big for int64
    CHECK(items[4].kind == JsonValue::Kind::integer);
}

TEST_CASE("json_tree: syntax errors with positions") {
    struct Case {
        const char* text;
        int line, column;
        const char* message_part;
    };
    const Case cases[] = {
        {"", 1, 1, "empty"},
        {"{", 1, 2, "expected a key"},
        {"{\"a\" 1}", 1, 6, "expected ':'"},
        {"{\"a\": 1,}", 1, 9, "trailing comma"},
        {"[1 2]", 1, 4, "expected ',' or ']'"},
        {"{\"a\": tru}", 1, 7, "invalid literal"},
        {"{\n\"a\": \"x\n\"}", 2, 8, "line break"},
        {"{\"a\": 01}", 1, 8, "leading zero"},
        {"{\"a\": \"\\q\"}", 1, 8, "invalid escape"},
        {"{\"a\": \"\\ud800\"}", 1, 8, "surrogate"},
        {"{} x", 1, 4, "after the end"},
        {"// comment\n{}", 1, 1, "expected a value"},
        {"\"unterminated", 1, 1, "unterminated string"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.text);
        auto parsed = parse_json_with_positions(c.text);
        REQUIRE(std::holds_alternative<JsonSyntaxError>(parsed));
        const auto& error = std::get<JsonSyntaxError>(parsed);
        CHECK(error.position.line == c.line);
        CHECK(error.position.column == c.column);
        CHECK(error.message.find(c.message_part) != std::string::npos);
    }
}

TEST_CASE("json_tree: deep nesting is an error, not a crash") {
    std::string deep(100000, '[');
    auto parsed = parse_json_with_positions(deep);
    REQUIRE(std::holds_alternative<JsonSyntaxError>(parsed));
    CHECK(std::get<JsonSyntaxError>(parsed).message.find("64") != std::string::npos);
}

TEST_CASE("load: values, defaults and sorting") {
    const RuleSet rules = load_ok(R"({
        "$schema": "https://example.invalid/quotamilter-rules-v1.json",
        "version": 1,
        "description": "test file",
        "defaults": {"verdict": "reject", "mode": "monitor", "reply": "over {limit} per {window}", "code": "554", "xcode": "5.7.0"},
        "policies": [
            {"name": "x.y-z_1", "description": "why", "quotas": [
                {"track": "client_net", "prefix_v4": 20, "prefix_v6": 56, "bytes": "2GiB", "window": 90, "description": "q"},
                {"track": "sender", "messages": 3, "window": "1w", "verdict": "tempfail", "code": 421, "xcode": "4.3.2",
                 "reply": "slow down {key}"}
            ]},
            {"name": "enforced", "priority": 0, "mode": "enforce", "exempt": true}
        ]
    })");
    CHECK(rules.description == "test file");
    REQUIRE(rules.policies.size() == 2);
    const Policy& first = rules.policies[0];
    CHECK(first.name == "enforced");
    CHECK(first.exempt);
    CHECK(first.mode == Mode::enforce);
    CHECK(first.match != nullptr);
    const Policy& second = rules.policies[1];
    CHECK(second.mode == Mode::monitor);
    CHECK(second.description == "why");
    CHECK(second.file_order == 0);
    REQUIRE(second.quotas.size() == 2);
    const Quota& net = second.quotas[0];
    CHECK(net.track == Track::client_net);
    CHECK(net.prefix_v4 == 20);
    CHECK(net.prefix_v6 == 56);
    CHECK(net.unit == Unit::bytes);
    CHECK(net.limit == (std::uint64_t{2} << 30));
    CHECK(net.window == std::chrono::seconds(90));
    CHECK(net.verdict == Verdict::reject);
    CHECK(net.reply.text == "over {limit} per {window}");
    CHECK(net.reply.code == "554");
    CHECK(net.reply.xcode == "5.7.0");
    CHECK(net.description == "q");
    const Quota& sender = second.quotas[1];
    CHECK(sender.verdict == Verdict::tempfail);
    CHECK(sender.reply.code == "421");
    CHECK(sender.reply.xcode == "4.3.2");
    CHECK(sender.reply.text == "slow down {key}");
    CHECK(sender.window == std::chrono::seconds(7 * 86400));
    CHECK(sender.track_label() == "sender");
}

TEST_CASE("load: a misspelled key is reported at its line and column, with a suggestion") {
    const auto errors = load_errors("{\"version\": 1, \"policies\": [\n  {\"name\": \"p\", \"quotas\": [\n    {\"tracks\": \"sender\", \"messages\": 1, \"window\": \"1h\"}]}]}");
    // one mistake, one line: the missing "track" is the misspelled key
    REQUIRE(errors.size() == 1);
    CHECK(errors[0] == "3:6: unknown key \"tracks\" in quota; did you mean \"track\"?");
}

TEST_CASE("load: every error is reported, not only the first") {
    const auto errors = load_errors(R"({"version": 2, "policies": [
        {"name": "a", "priority": -1, "quotas": [{"track": "sender", "messages": 0, "window": "2y"}]},
        {"name": "a", "exempt": true, "mode": "loud"}
    ]})");
    CHECK(errors.size() == 6);
}

TEST_CASE("load: file errors") {
    auto result = load_rules_file("/nonexistent/rules.json");
    REQUIRE(std::holds_alternative<std::vector<Diagnostic>>(result));
    const auto& errors = std::get<std::vector<Diagnostic>>(result);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].str().rfind("/nonexistent/rules.json: cannot open", 0) == 0);
    CHECK(Diagnostic{"f.json", 3, 7, "boom"}.str() == "f.json:3:7: boom");
}

TEST_CASE("load: mutated files never crash and always yield rules or positioned errors") {
    // Deterministic mutations of the reference file: byte flips, deletions,
    // insertions of JSON punctuation. Bounded: 3000 variants.
    std::ifstream in(QM_SOURCE_DIR "/rules/examples/hudedu.json");
    std::ostringstream buffer;
    buffer << in.rdbuf();
    const std::string original = buffer.str();
    REQUIRE(original.size() > 100);
    std::uint32_t state = 12345;
    auto next = [&state] {
        state = state * 1664525u + 1013904223u;
        return state >> 8;
    };
    static constexpr char kPunctuation[] = "{}[]\",:!%@<>/\\ 0-9ae.\n";
    int loaded = 0, rejected = 0;
    for (int round = 0; round < 3000; ++round) {
        std::string text = original;
        const int edits = 1 + static_cast<int>(next() % 3);
        for (int e = 0; e < edits && !text.empty(); ++e) {
            const std::size_t at = next() % text.size();
            switch (next() % 3) {
                case 0: text[at] = kPunctuation[next() % (sizeof kPunctuation - 1)]; break;
                case 1: text.erase(at, 1 + next() % 8); break;
                default: text.insert(at, 1, kPunctuation[next() % (sizeof kPunctuation - 1)]); break;
            }
        }
        auto result = load_rules_text(text, "fuzz.json");
        if (auto* errors = std::get_if<std::vector<Diagnostic>>(&result)) {
            REQUIRE_FALSE(errors->empty());
            for (const Diagnostic& d : *errors) {
                CHECK(d.line >= 1);
                CHECK(d.column >= 1);
                CHECK_FALSE(d.message.empty());
            }
            ++rejected;
        } else {
            for (const Policy& p : std::get<RuleSet>(result).policies) CHECK(p.match != nullptr);
            ++loaded;
        }
    }
    CHECK(rejected > 0);
    CHECK(loaded > 0);  // some mutations only touch strings/whitespace
}

TEST_CASE("load: BOM and CRLF line endings") {
    const std::string crlf = "\xEF\xBB\xBF{\r\n  \"version\": 1,\r\n  \"policies\": [],\r\n  \"polcies\": []\r\n}\r\n";
    const auto errors = load_errors(crlf);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0] == "4:3: unknown key \"polcies\" in the rule file; did you mean \"policies\"?");
    rules_test::load_ok("\xEF\xBB\xBF{\"version\": 1, \"policies\": []}");
}
