//! The expansion: `#[tracing::instrument(...)]` with the span name and the
//! convention fields, and for a function returning `Result`, an ERROR event
//! on `Err` (which fails the run or step) carrying the error's chain.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, Pat, ReturnType, Type};

use crate::args::{Arg, Args, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Workflow,
    Step,
}

/// Keys both attributes take, besides their own.
const COMMON_KEYS: [&str; 6] = ["name", "level", "skip", "skip_all", "fields", "ret"];

impl Kind {
    fn attribute(self) -> &'static str {
        match self {
            Kind::Workflow => "#[workflow]",
            Kind::Step => "#[step]",
        }
    }

    /// The span name the layer recognizes, and the field that names the
    /// workflow or step.
    fn span_name(self) -> &'static str {
        match self {
            Kind::Workflow => "workflow",
            Kind::Step => "step",
        }
    }

    /// Keys that become convention fields of this kind's span.
    fn own_keys(self) -> &'static [&'static str] {
        match self {
            Kind::Workflow => &["domain", "partition_key", "triggered_by", "run_id"],
            Kind::Step => &["step_type"],
        }
    }

    fn other(self) -> Kind {
        match self {
            Kind::Workflow => Kind::Step,
            Kind::Step => Kind::Workflow,
        }
    }
}

pub(crate) fn expand(kind: Kind, attr: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(kind, attr, item.clone()) {
        Ok(expanded) => expanded,
        // The function stays as written, so one mistake is one error.
        Err(error) => {
            let error = error.to_compile_error();
            quote!(#error #item)
        }
    }
}

/// What the keys asked for.
#[derive(Default)]
struct Plan {
    name: Option<Value>,
    conventions: Vec<(Ident, Value)>,
    level: Option<Value>,
    skip: Vec<Ident>,
    skip_all: bool,
    fields: Vec<TokenStream>,
    ret: bool,
}

fn plan(kind: Kind, args: Args) -> syn::Result<Plan> {
    let mut plan = Plan::default();
    let mut seen: Vec<String> = Vec::new();
    for arg in args.0 {
        let key = arg.key().clone();
        let name = key.to_string();
        if !COMMON_KEYS.contains(&name.as_str()) && !kind.own_keys().contains(&name.as_str()) {
            let message = if kind.other().own_keys().contains(&name.as_str()) {
                format!(
                    "`{name}` is a key of {}, not of {}",
                    kind.other().attribute(),
                    kind.attribute()
                )
            } else {
                let mut known: Vec<&str> = kind.own_keys().to_vec();
                known.extend(COMMON_KEYS);
                format!(
                    "unknown key `{name}` for {}; expected one of: {}",
                    kind.attribute(),
                    known.join(", ")
                )
            };
            return Err(syn::Error::new(key.span(), message));
        }
        if seen.contains(&name) && name != "fields" && name != "skip" {
            return Err(syn::Error::new(
                key.span(),
                format!("`{name}` is given twice"),
            ));
        }
        seen.push(name.clone());
        match (name.as_str(), arg) {
            ("name", Arg::Keyed(_, value)) => plan.name = Some(value),
            ("level", Arg::Keyed(_, value)) => {
                if let Some(sigil) = &value.sigil {
                    return Err(syn::Error::new(sigil.span(), "a level takes no `%` or `?`"));
                }
                plan.level = Some(value);
            }
            ("skip", Arg::Skip(_, names)) => plan.skip.extend(names),
            ("skip_all", Arg::Flag(_)) => plan.skip_all = true,
            ("fields", Arg::Fields(_, tokens)) => plan.fields.push(tokens),
            ("ret", Arg::Flag(_)) => plan.ret = true,
            (_, Arg::Keyed(key, value)) if kind.own_keys().contains(&name.as_str()) => {
                plan.conventions.push((key, value));
            }
            (_, other) => {
                let shape = match name.as_str() {
                    "skip" => "`skip(arg, ...)`",
                    "fields" => "`fields(name = value, ...)`",
                    "skip_all" | "ret" => "the bare word",
                    _ => "`key = value`",
                };
                return Err(syn::Error::new(
                    other.key().span(),
                    format!("`{name}` is written {shape}"),
                ));
            }
        }
    }
    Ok(plan)
}

fn value_tokens(value: &Value) -> TokenStream {
    let sigil = &value.sigil;
    let expr = &value.expr;
    quote!(#sigil #expr)
}

/// Whether the type is written `...Result<...>`: `Result`, `io::Result`,
/// `anyhow::Result`, and so on.
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "Result"),
        Type::Group(group) => is_result(&group.elem),
        Type::Paren(paren) => is_result(&paren.elem),
        _ => false,
    }
}

/// Whether the type mentions `impl Trait`, which a closure's or a
/// binding's annotation cannot name.
fn mentions_impl(ty: &Type) -> bool {
    ty.to_token_stream()
        .into_iter()
        .any(|token| matches!(&token, proc_macro2::TokenTree::Ident(i) if i == "impl"))
}

/// Arguments `instrument` cannot record as they are: the receiver (rarely
/// `Debug`, and the same for every call), and `impl Trait` arguments (whose
/// type may not be `Debug`).
fn skipped_by_default(function: &ItemFn) -> Vec<Ident> {
    function
        .sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Receiver(receiver) => Some(Ident::new("self", receiver.self_token.span)),
            FnArg::Typed(typed) => match (&*typed.pat, mentions_impl(&typed.ty)) {
                (Pat::Ident(binding), true) => Some(binding.ident.clone()),
                _ => None,
            },
        })
        .collect()
}

fn try_expand(kind: Kind, attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args: Args = syn::parse2(attr)?;
    let mut function: ItemFn = syn::parse2(item.clone()).map_err(|_| {
        let first = item.into_iter().next();
        syn::Error::new_spanned(first, format!("{} goes on a function", kind.attribute()))
    })?;
    let plan = plan(kind, args)?;

    let span_name = kind.span_name();
    let name_field = Ident::new(span_name, Span::call_site());
    let name = match &plan.name {
        Some(value) => value_tokens(value),
        None => function.sig.ident.to_string().to_token_stream(),
    };
    let mut fields = vec![quote!(#name_field = #name)];
    fields.extend(plan.conventions.iter().map(|(key, value)| {
        let value = value_tokens(value);
        quote!(#key = #value)
    }));
    fields.extend(plan.fields.iter().cloned());

    let mut options = vec![quote!(name = #span_name)];
    if let Some(level) = &plan.level {
        let level = value_tokens(level);
        options.push(quote!(level = #level));
    }
    if plan.skip_all {
        options.push(quote!(skip_all));
    } else {
        let mut skip = skipped_by_default(&function);
        for name in plan.skip {
            if !skip.contains(&name) {
                skip.push(name);
            }
        }
        if !skip.is_empty() {
            options.push(quote!(skip(#(#skip),*)));
        }
    }
    options.push(quote!(fields(#(#fields),*)));
    if plan.ret {
        options.push(quote!(ret));
    }

    if let ReturnType::Type(_, ty) = &function.sig.output
        && is_result(ty)
    {
        let block = &function.block;
        let annotation = if mentions_impl(ty) {
            quote!()
        } else {
            quote!(: #ty)
        };
        let outcome = Ident::new("__workflow_history_outcome", Span::mixed_site());
        let run = if function.sig.asyncness.is_some() {
            quote!(async move #block .await)
        } else {
            let returns = if mentions_impl(ty) {
                quote!()
            } else {
                quote!(-> #ty)
            };
            quote!((move || #returns #block)())
        };
        let failed = quote_spanned! {ty.span()=>
            if let ::core::result::Result::Err(error) = &#outcome {
                #[allow(unused_imports)]
                use ::workflow_history::__private::{FailWithChain as _, FailWithDisplay as _};
                ::tracing::error!(
                    error = (&&&::workflow_history::__private::Failure(error)).error_value()
                );
            }
        };
        function.block = syn::parse2(quote! {{
            #[allow(clippy::redundant_closure_call)]
            let #outcome #annotation = #run;
            #failed
            #outcome
        }})?;
    }
    Ok(quote! {
        #[::tracing::instrument(#(#options),*)]
        #function
    })
}
