//! `cargo run --bin grpc` does what its documentation says: two calls, each one trace of a
//! client span and a server span named `helloworld.Greeter/SayHello`, the second an error.

use std::process::Command;

#[test]
fn the_grpc_example_prints_two_traces_of_a_client_and_a_server_span() {
    let mut example = Command::new(env!("CARGO_BIN_EXE_grpc"));
    // Nothing configured: the default terminal waterfall on standard error.
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("OTEL_")) {
        example.env_remove(name);
    }
    let output = example.output().expect("the example runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("SayHello(\"world\") -> Hello world!"), "{stdout}");
    assert!(stdout.contains("SayHello(\"\") -> InvalidArgument"), "{stdout}");
    assert_eq!(stderr.matches(" 2 spans ").count(), 2, "{stderr}");
    assert_eq!(stderr.matches("helloworld.Greeter/SayHello").count(), 4, "{stderr}");
    let failed: Vec<&str> = stderr.lines().filter(|line| line.contains("INVALID_ARGUMENT")).collect();
    assert_eq!(failed.len(), 1, "only the client's span is an error:\n{stderr}");
}
