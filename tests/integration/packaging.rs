//! What packagers ship: the manual page and the shell completions, generated from the
//! same flag definitions as `--help`; and behaviour that depends on the linked OpenSSL,
//! checked against the version this test binary links (never skipped).

use std::process::Command;

use crate::common::*;
use serde_json::Value;

/// The subcommands `tlscat --help` lists.
fn subcommands() -> Vec<String> {
    let help = text(&run(tlscat().arg("--help")).stdout);
    let commands = help
        .split("Commands:")
        .nth(1)
        .expect("a Commands section")
        .split("\n\n")
        .next()
        .unwrap();
    let names: Vec<String> = commands
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect();
    assert!(names.len() >= 5, "{help}");
    names
}

#[test]
fn the_man_page_mentions_every_subcommand_and_the_exit_codes() {
    let output = run(tlscat().arg("man"));
    assert_exit(&output, 0);
    let page = text(&output.stdout);
    assert!(page.contains(".TH tlscat 1"), "{page}");
    assert!(
        page.contains("\"tlscat 0.1.0\""),
        "source names tlscat's version"
    );
    assert!(
        !page.contains("running OpenSSL"),
        "the page must not depend on the machine"
    );
    for command in subcommands() {
        assert!(
            page.contains(&format!("tlscat\\-{}(1)", command.replace('-', "\\-"))),
            "the man page lists {command}"
        );
    }
    assert!(
        page.contains("\\-\\-listen"),
        "server flags are on the main page"
    );
    assert!(
        page.contains("7  an \\-\\-expect\\-* assertion failed"),
        "exit codes"
    );
}

#[test]
fn man_dir_writes_one_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(tlscat().arg("man").arg("--dir").arg(dir.path()));
    assert_exit(&output, 0);
    assert!(dir.path().join("tlscat.1").is_file());
    for command in subcommands() {
        let page = std::fs::read_to_string(dir.path().join(format!("tlscat-{command}.1")))
            .unwrap_or_else(|e| panic!("tlscat-{command}.1: {e}"));
        assert!(page.contains(&format!(".TH tlscat-{command} 1")), "{page}");
    }
    let client = std::fs::read_to_string(dir.path().join("tlscat-client.1")).unwrap();
    assert!(
        client.contains("\\-\\-cacert"),
        "the client page has the client's flags"
    );

    let unwritable = run(tlscat().args(["man", "--dir", "/nonexistent/man"]));
    assert_exit(&unwritable, 2);
    assert!(text(&unwritable.stderr).contains("cannot write the manual into /nonexistent/man"));
}

#[test]
fn completions_cover_every_subcommand_in_each_shell() {
    for (shell, marker) in [
        ("bash", "_tlscat()"),
        ("zsh", "#compdef tlscat"),
        ("fish", "complete -c tlscat"),
    ] {
        let output = run(tlscat().args(["completions", shell]));
        assert_exit(&output, 0);
        let script = text(&output.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        for command in subcommands() {
            assert!(script.contains(&command), "{shell} completes {command}");
        }
        assert!(script.contains("cacert"), "{shell} completes client flags");
    }
    let bash = run(tlscat().args(["completions", "bash"]));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tlscat.bash");
    std::fs::write(&file, &bash.stdout).unwrap();
    assert_exit(&run(Command::new("bash").arg("-n").arg(&file)), 0);

    assert_exit(&run(tlscat().args(["completions", "tcsh"])), 2);
}

fn linked_at_least(number: u64) -> bool {
    openssl::version::number() as u64 >= number
}

#[test]
fn post_quantum_groups_follow_the_linked_openssl() {
    let pki = Pki::ecdsa();
    let hybrid = ["--groups", "X25519MLKEM768"];
    let version: Value =
        serde_json::from_slice(&run(tlscat().args(["version", "--json"])).stdout).unwrap();
    let groups = version["supports"]["groups"].to_string();
    if linked_at_least(0x3050_0000) {
        assert!(groups.contains("X25519MLKEM768"), "{groups}");
        let server = Server::start(&pki, &hybrid);
        let output = server.client(&pki, &[&hybrid[..], &["--json"]].concat());
        assert_exit(&output, 0);
        assert_eq!(connections(&output.stdout)[0]["group"], "X25519MLKEM768");
        // OpenSSL 3.5's own defaults put the hybrid first.
        let system = Server::start(&pki, &["--profile", "system"]);
        let output = system.client(&pki, &["--profile", "system", "--json"]);
        assert_eq!(connections(&output.stdout)[0]["group"], "X25519MLKEM768");
    } else {
        assert!(!groups.contains("MLKEM"), "{groups}");
        let output = run(tlscat().args(["client"]).args(hybrid));
        assert_exit(&output, 2);
        assert!(text(&output.stderr).contains("\"X25519MLKEM768\" is not available here"));
    }
}

#[test]
fn the_version_line_names_the_openssl_it_runs_with() {
    let output = run(tlscat().arg("--version"));
    let line = text(&output.stdout);
    assert!(
        line.contains(&format!("running {}", openssl::version::version())),
        "{line}"
    );
    // The build-time version is the same release when nothing was upgraded in between.
    let number = openssl::version::number() as u64;
    let release = if number >> 28 >= 3 {
        format!(
            "{}.{}.{}",
            number >> 28,
            (number >> 20) & 0xff,
            (number >> 4) & 0xff
        )
    } else {
        format!(
            "{}.{}.{}",
            number >> 28,
            (number >> 20) & 0xff,
            (number >> 12) & 0xff
        )
    };
    assert!(
        line.contains(&format!("built with OpenSSL {release}")),
        "{line}"
    );
}
