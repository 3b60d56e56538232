//! tlscat against other TLS stacks: OpenSSL's s_client / s_server, Python's `ssl` (the
//! seed's own code), GnuTLS.

use crate::common::*;

/// The seed's Python client, pointed at a port and a CA file.
const PYTHON_SEED_CLIENT: &str = r#"
import socket, ssl, sys
HOST = 'localhost'
PORT = int(sys.argv[1])
client_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ssl_context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=sys.argv[2])
client_socket_ssl = ssl_context.wrap_socket(client_socket, server_hostname=HOST)
client_socket_ssl.connect((HOST, PORT))
message = "Hello from the client!"
client_socket_ssl.send(message.encode())
response = client_socket_ssl.recv(1024)
print("Response from server:", response.decode())
print("Protocol:", client_socket_ssl.version())
client_socket_ssl.close()
"#;

/// The seed's Python server, on a free port, for one connection.
const PYTHON_SEED_SERVER: &str = r#"
import socket, ssl, sys
server_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ssl_context.load_cert_chain(certfile=sys.argv[1], keyfile=sys.argv[2])
server_socket_ssl = ssl_context.wrap_socket(server_socket, server_side=True)
server_socket_ssl.bind(('127.0.0.1', 0))
server_socket_ssl.listen()
print("Server is listening on", server_socket_ssl.getsockname()[1], flush=True)
client_socket_ssl, client_address = server_socket_ssl.accept()
print("Connected to:", client_address, flush=True)
data = client_socket_ssl.recv(1024)
print("Received:", data.decode(), flush=True)
response = "Hello from the server!"
client_socket_ssl.send(response.encode())
client_socket_ssl.close()
"#;

fn s_client_to_tlscat_server(version_flag: &str, expected_version: &str) {
    require("openssl", "openssl");
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let output = run_with_input(
        std::process::Command::new("openssl")
            .args(["s_client", "-connect", &server.target()])
            .args(["-servername", "localhost", "-verify_return_error"])
            .args([
                "-CAfile",
                &arg(&pki.ca()),
                version_flag,
                "-brief",
                "-ign_eof",
            ]),
        b"Hello from s_client\n",
    );
    assert_exit(&output, 0);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("Protocol version: {expected_version}")),
        "{stderr}"
    );
    assert!(stderr.contains("Verification: OK"), "{stderr}");
    assert_eq!(text(&output.stdout), "Hello from the server!");
    server.proc.wait_stdout("s_client's message", |l| {
        l == "Received: Hello from s_client\\n"
    });
}

#[test]
fn openssl_s_client_talks_to_tlscat_server_over_tls_1_2() {
    s_client_to_tlscat_server("-tls1_2", "TLSv1.2");
}

#[test]
fn openssl_s_client_talks_to_tlscat_server_over_tls_1_3() {
    s_client_to_tlscat_server("-tls1_3", "TLSv1.3");
}

fn tlscat_client_to_s_server(pki: &Pki, version_flag: &str, expected_version: &str) {
    require("openssl", "openssl");
    let s_server = Proc::spawn(
        "openssl s_server",
        std::process::Command::new("openssl")
            .args([
                "s_server",
                "-accept",
                "127.0.0.1:0",
                "-naccept",
                "1",
                "-www",
            ])
            .args(["-cert", &arg(&pki.path("server.crt"))])
            .args(["-key", &arg(&pki.path("server.key")), version_flag]),
    );
    let accept = s_server.wait_stdout("ACCEPT", |l| l.starts_with("ACCEPT "));
    let target = accept.trim_start_matches("ACCEPT ").to_string();
    let output = run(tlscat()
        .args(["client", "--connect", &target, "--cacert", &arg(&pki.ca())])
        .args(["--servername", "localhost"])
        .args(["--message", "GET / HTTP/1.0\r\n\r\n"]));
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with("Response from server: HTTP/1.0 200 ok\\r\\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("New, {expected_version}, Cipher is")),
        "s_server's page reports the protocol: {stdout}"
    );
}

#[test]
fn tlscat_client_talks_to_openssl_s_server_over_tls_1_3() {
    tlscat_client_to_s_server(&Pki::ecdsa(), "-tls1_3", "TLSv1.3");
}

#[test]
fn tlscat_client_talks_to_openssl_s_server_over_tls_1_2_with_rsa() {
    tlscat_client_to_s_server(&Pki::rsa(), "-tls1_2", "TLSv1.2");
}

#[test]
fn python_seed_client_talks_to_tlscat_server() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let output = run(&mut python(
        PYTHON_SEED_CLIENT,
        &[&server.port().to_string(), &arg(&pki.ca())],
    ));
    assert_exit(&output, 0);
    assert_eq!(
        text(&output.stdout),
        "Response from server: Hello from the server!\nProtocol: TLSv1.3\n"
    );
    server.proc.wait_stdout("the seed's message", |l| {
        l == "Received: Hello from the client!"
    });
}

#[test]
fn tlscat_client_talks_to_python_seed_server_and_notes_the_missing_close_notify() {
    let pki = Pki::ecdsa();
    let py = Proc::spawn(
        "python ssl server",
        &mut python(
            PYTHON_SEED_SERVER,
            &[&arg(&pki.path("server.crt")), &arg(&pki.path("server.key"))],
        ),
    );
    let line = py.wait_stdout("its port", |l| l.starts_with("Server is listening on "));
    let port = line.rsplit(' ').next().unwrap();
    let output = run(tlscat()
        .args(["client", "--connect", &format!("localhost:{port}")])
        .arg("--cacert")
        .arg(pki.ca()));
    assert_exit(&output, 0);
    assert_eq!(
        text(&output.stdout),
        "Response from server: Hello from the server!\n"
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("without close_notify") && stderr.contains("truncated"),
        "Python closes without close_notify; the client says so: {stderr}"
    );
    py.wait_stdout("the seed's message", |l| {
        l == "Received: Hello from the client!"
    });
}

#[test]
fn gnutls_cli_talks_to_tlscat_server() {
    require("gnutls-cli", "gnutls-bin");
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let output = run_with_input(
        std::process::Command::new("gnutls-cli")
            .args(["--x509cafile", &arg(&pki.ca())])
            .args(["--port", &server.port().to_string(), "localhost"]),
        b"Hello from GnuTLS\n",
    );
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    assert!(stdout.contains("The certificate is trusted"), "{stdout}");
    assert!(stdout.contains("Hello from the server!"), "{stdout}");
    server.proc.wait_stdout("GnuTLS's message", |l| {
        l == "Received: Hello from GnuTLS\\n"
    });
}
