//! Bakes libtorch's folder into everything this package links (the CLI, tests, benches)
//! as an rpath, so they run without anyone setting `LD_LIBRARY_PATH`. torch-sys tells us
//! the folder it linked against through `DEP_TCH_LIBTORCH_LIB`.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        println!("cargo:rustc-env=LOSSVIZ_LIBTORCH_LIB={dir}");
    }
}
