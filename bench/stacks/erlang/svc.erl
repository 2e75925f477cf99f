#!/usr/bin/env escript
%%! +S 2 +sbwt none
%% kspan stack bench: Erlang/OTP (BEAM, 2 schedulers) services, kernel/stdlib only.
%%
%% usage: escript svc.erl ROLE LISTEN_IP:PORT BACK_IP:PORT STORE_IP TRUTH_DIR
%%   server (both roles): gen_tcp acceptor, an Erlang process per connection (HTTP/1.1
%%     keep-alive, {packet, http_bin} parsing), head and body in one send.
%%   front: /one = 1 call to BACK /work, /two = 2 sequential, /par = 2 spawned processes
%%     (results collected by message); each call checks a keep-alive connection out of a
%%     LIFO pool process (the caller takes the socket over, sends and receives itself,
%%     and gives it back, as hackney's pool does); then redis INCR through ONE connection
%%     owned by a redis client process (callers send it messages, it writes and reads the
%%     socket, as eredis does).
%%   back: /work answers after timer:sleep(1).
%% Truth: one line per request in TRUTH_DIR/ROLE.jsonl (O_APPEND), tid 0: a process moves
%% between scheduler threads and cannot tell its OS thread (not checked, as for Go).
-module(svc).
-mode(compile).
-export([main/1]).

main([Role, Listen, Back, Store, Truth]) ->
    {LIp, LPort} = hostport(Listen),
    {BIp, BPort} = hostport(Back),
    {ok, SIp} = inet:parse_address(Store),
    persistent_term:put(kst, #{role => list_to_binary(Role), back => {BIp, BPort},
                               back_s => list_to_binary(Back), store => SIp,
                               store_s => list_to_binary(Store ++ ":6379")}),
    LogFile = filename:join(Truth, Role ++ ".jsonl"),
    register(kst_log, spawn(fun() -> {ok, Log} = file:open(LogFile, [append, raw, binary]), log_loop(Log) end)),
    case Role of
        "front" ->
            register(kst_pool, spawn(fun() -> pool_loop([]) end)),
            register(kst_redis, spawn(fun() -> redis_loop(undefined) end));
        _ -> ok
    end,
    {ok, L} = gen_tcp:listen(LPort, backend() ++ [binary, {ip, LIp}, {active, false}, {reuseaddr, true},
                                     {backlog, 256}, {nodelay, true}, {packet, http_bin}]),
    io:format(standard_error, "~s listening on ~s~n", [Role, Listen]),
    accept_loop(L).

%% KST_INET_BACKEND=socket: gen_tcp on the socket NIF instead of the inet driver (OTP 23+).
backend() ->
    case os:getenv("KST_INET_BACKEND") of
        "socket" -> [{inet_backend, socket}];
        _ -> []
    end.

hostport(S) ->
    [H, P] = string:split(S, ":"),
    {ok, Ip} = inet:parse_address(H),
    {Ip, list_to_integer(P)}.

now_ns() -> os:system_time(nanosecond).
addr({Ip, Port}) -> iolist_to_binary([inet:ntoa(Ip), ":", integer_to_list(Port)]).
cfg(K) -> maps:get(K, persistent_term:get(kst)).

accept_loop(L) ->
    {ok, S} = gen_tcp:accept(L),
    Pid = spawn(fun() -> receive go -> serve(S) end end),
    ok = gen_tcp:controlling_process(S, Pid),
    Pid ! go,
    accept_loop(L).

log_loop(Log) ->
    receive Line -> ok = file:write(Log, Line) end,
    log_loop(Log).

%% --- server ------------------------------------------------------------------------------
serve(S) ->
    {ok, Peer} = inet:peername(S),
    {ok, Local} = inet:sockname(S),
    serve(S, addr(Peer), addr(Local)).
serve(S, Peer, Local) ->
    case gen_tcp:recv(S, 0) of
        {ok, {http_request, _Method, {abs_path, Target}, _Ver}} ->
            {Rid, Close} = headers(S, <<>>, false),
            Start = now_ns(),
            [Path | _] = binary:split(Target, <<"?">>),
            {Code, Status, Calls} = handle(cfg(role), Path, Rid),
            Role = cfg(role),
            Body = [Role, " ", Path, " ", case Code of 200 -> <<"ok">>; _ -> Status end, "\n"],
            Len = iolist_size(Body),
            ok = gen_tcp:send(S, ["HTTP/1.1 ", integer_to_list(Code), case Code of 200 -> " OK"; _ -> " Error" end,
                                 "\r\nContent-Type: text/plain\r\nContent-Length: ", integer_to_list(Len),
                                 "\r\n\r\n", Body]),
            End = now_ns(),
            kst_log ! [<<"{\"rid\":\"">>, Rid, <<"\",\"service\":\"">>, Role,
                       <<"\",\"design\":\"beam\",\"pid\":">>, os:getpid(), <<",\"tid\":0,\"start_unix_ns\":">>,
                       integer_to_list(Start), <<",\"end_unix_ns\":">>, integer_to_list(End),
                       <<",\"peer\":\"">>, Peer, <<"\",\"local\":\"">>, Local, <<"\",\"endpoint\":\"">>, Path,
                       <<"\",\"status\":\"">>, Status, <<"\",\"calls\":[">>, lists:join(",", Calls), <<"]}\n">>],
            case Close of
                true -> gen_tcp:close(S);
                false -> serve(S, Peer, Local)
            end;
        _ ->
            gen_tcp:close(S)
    end.

headers(S, Rid, Close) ->
    case gen_tcp:recv(S, 0) of
        {ok, {http_header, _, Name, _, Value}} ->
            case string:lowercase(to_bin(Name)) of
                <<"x-request-id">> -> headers(S, Value, Close);
                <<"connection">> -> headers(S, Rid, string:lowercase(Value) =:= <<"close">>);
                _ -> headers(S, Rid, Close)
            end;
        {ok, http_eoh} -> {Rid, Close};
        _ -> {Rid, true}
    end.
to_bin(A) when is_atom(A) -> atom_to_binary(A);
to_bin(B) -> B.

handle(<<"back">>, <<"/work">>, _Rid) ->
    timer:sleep(1),
    {200, <<"ok">>, []};
handle(<<"front">>, <<"/one">>, Rid) -> with_redis([call_back(Rid)]);
handle(<<"front">>, <<"/two">>, Rid) ->
    C1 = call_back(Rid),
    case ok(C1) of
        true -> with_redis([C1, call_back(Rid)]);
        false -> with_redis([C1])
    end;
handle(<<"front">>, <<"/par">>, Rid) ->
    Self = self(),
    Refs = [begin R = make_ref(), spawn(fun() -> Self ! {R, call_back(Rid)} end), R end || _ <- [1, 2]],
    Calls = [receive {R, C} -> C end || R <- Refs],
    with_redis(lists:sort(fun(A, B) -> element(2, A) =< element(2, B) end, Calls));
handle(_, Path, _) ->
    {404, <<"error: unknown endpoint ", Path/binary>>, []}.

ok({_, _, <<"ok">>}) -> true;
ok(_) -> false.

with_redis(Calls) ->
    case [St || {_, _, St} <- Calls, St =/= <<"ok">>] of
        [Bad | _] -> {502, Bad, [J || {J, _, _} <- Calls]};
        [] ->
            {J, _, St} = redis_incr(),
            Code = case St of <<"ok">> -> 200; _ -> 502 end,
            {Code, St, [C || {C, _, _} <- Calls] ++ [J]}
    end.

call_json(Fields, Start, End, Status) ->
    [<<"{">>, Fields, <<",\"tid\":0,\"start_unix_ns\":">>, integer_to_list(Start),
     <<",\"end_unix_ns\":">>, integer_to_list(End), <<",\"status\":\"">>, Status, <<"\"}">>].

%% --- calls to back: a LIFO pool of keep-alive connections -----------------------------------
pool_loop(Free) ->
    receive
        {get, From} ->
            case Free of
                [S | Rest] ->
                    ok = gen_tcp:controlling_process(S, From),
                    From ! {pool, S},
                    pool_loop(Rest);
                [] ->
                    From ! {pool, none},
                    pool_loop([])
            end;
        {put, S} -> pool_loop([S | Free])
    end.

checkout() ->
    kst_pool ! {get, self()},
    receive {pool, none} ->
            {BIp, BPort} = cfg(back),
            gen_tcp:connect(BIp, BPort, backend() ++ [binary, {active, false}, {nodelay, true}, {packet, http_bin}], 1000);
        {pool, S} -> {ok, S}
    end.
checkin(S) ->
    ok = gen_tcp:controlling_process(S, whereis(kst_pool)),
    kst_pool ! {put, S}.

call_back(Rid) ->
    Start = now_ns(),
    {Local, Status} =
        case checkout() of
            {ok, S} ->
                {ok, L} = inet:sockname(S),
                Req = ["GET /work HTTP/1.1\r\nHost: ", cfg(back_s), "\r\nX-Request-Id: ", Rid, "\r\n\r\n"],
                case gen_tcp:send(S, Req) =:= ok andalso response(S) of
                    {ok, 200} -> checkin(S), {addr(L), <<"ok">>};
                    {ok, Code} -> checkin(S), {addr(L), iolist_to_binary(["error: back: HTTP status ", integer_to_list(Code)])};
                    Err -> gen_tcp:close(S), {addr(L), iolist_to_binary(io_lib:format("error: back: ~p", [Err]))}
                end;
            {error, E} -> {<<>>, iolist_to_binary(io_lib:format("error: back: ~p", [E]))}
        end,
    End = now_ns(),
    {call_json([<<"\"target\":\"back\",\"proto\":\"http\",\"method\":\"GET\",\"path\":\"/work\",\"local\":\"">>, Local,
                <<"\",\"peer\":\"">>, cfg(back_s), <<"\"">>], Start, End, Status), Start, Status}.

response(S) ->
    case gen_tcp:recv(S, 0, 2000) of
        {ok, {http_response, _, Code, _}} -> resp_headers(S, Code, 0);
        E -> E
    end.
resp_headers(S, Code, Len) ->
    case gen_tcp:recv(S, 0, 2000) of
        {ok, {http_header, _, 'Content-Length', _, V}} -> resp_headers(S, Code, binary_to_integer(V));
        {ok, {http_header, _, _, _, _}} -> resp_headers(S, Code, Len);
        {ok, http_eoh} ->
            ok = inet:setopts(S, [{packet, raw}]),
            R = case Len of 0 -> {ok, <<>>}; _ -> gen_tcp:recv(S, Len, 2000) end,
            ok = inet:setopts(S, [{packet, http_bin}]),
            case R of {ok, _} -> {ok, Code}; E -> E end;
        E -> E
    end.

%% --- redis: one connection owned by one process ------------------------------------------
redis_loop(S0) ->
    receive
        {incr, From} ->
            S = case S0 of
                    undefined ->
                        case gen_tcp:connect(cfg(store), 6379, backend() ++ [binary, {active, false}, {nodelay, true}, {packet, line}], 1000) of
                            {ok, S1} -> S1;
                            _ -> undefined
                        end;
                    _ -> S0
                end,
            case S of
                undefined -> From ! {redis, <<>>, <<"error: redis: connect">>}, redis_loop(undefined);
                _ ->
                    {ok, L} = inet:sockname(S),
                    ok = gen_tcp:send(S, <<"*2\r\n$4\r\nINCR\r\n$9\r\nkst:count\r\n">>),
                    case gen_tcp:recv(S, 0, 1000) of
                        {ok, <<":", _/binary>>} -> From ! {redis, addr(L), <<"ok">>}, redis_loop(S);
                        E -> gen_tcp:close(S),
                             From ! {redis, addr(L), iolist_to_binary(io_lib:format("error: redis: ~p", [E]))},
                             redis_loop(undefined)
                    end
            end
    end.

redis_incr() ->
    Start = now_ns(),
    kst_redis ! {incr, self()},
    {Local, Status} = receive {redis, L, St} -> {L, St} end,
    End = now_ns(),
    {call_json([<<"\"target\":\"redis\",\"proto\":\"redis\",\"command\":\"INCR\",\"local\":\"">>, Local,
                <<"\",\"peer\":\"">>, cfg(store_s), <<"\"">>], Start, End, Status), Start, Status}.
